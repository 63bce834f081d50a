"""Fault switches tests turn on through the simulator's control API: Paynow misbehaving
the ways a merchant must survive."""

from __future__ import annotations

import dataclasses
import threading
import typing
from dataclasses import dataclass

from paynow_simulator import protocol
from paynow_simulator.protocol import Message


@dataclass(frozen=True)
class Faults:
    drop_status_posts: bool = False  # status changes, but nothing is posted
    duplicate_status_posts: bool = False  # every status post is sent twice
    bad_hash: bool = False  # status posts carry a hash that does not verify
    bad_hash_replies: bool = False  # so do initiation and poll replies
    slow_seconds: float = 0.0  # initiation and poll replies wait this long first


FAULT_TYPES = typing.get_type_hints(Faults)


class FaultSwitches:
    """The switches in force, shared by every request thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults = Faults()

    @property
    def current(self) -> Faults:
        return self._faults

    def update(self, changes: object) -> Faults:
        """Set the switches named in `changes` (a JSON object), keep the others; ValueError
        naming what is wrong, and nothing changed, for an unknown switch or a wrong value."""
        if not isinstance(changes, dict):
            raise ValueError("expected a JSON object of switches")
        unknown = sorted(set(changes) - set(FAULT_TYPES))
        if unknown:
            raise ValueError(f"unknown switches {unknown}; known: {sorted(FAULT_TYPES)}")
        for name, value in changes.items():
            if FAULT_TYPES[name] is bool and not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
            if FAULT_TYPES[name] is float and (
                isinstance(value, bool) or not isinstance(value, int | float) or value < 0
            ):
                raise ValueError(f"{name} must be a number of seconds, 0 or more")
        with self._lock:
            self._faults = dataclasses.replace(self._faults, **changes)
            return self._faults

    def reset(self) -> Faults:
        with self._lock:
            self._faults = Faults()
            return self._faults


def sign(message: Message, key: str, spoiled: bool) -> Message:
    """Signed with the merchant's key, or, with a bad-hash switch on, with a key that is
    not theirs: a well-formed hash that does not verify."""
    return protocol.sign(message, f"not-{key}" if spoiled else key)
