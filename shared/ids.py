"""CUID identifiers, as the seed's `@default(cuid())`.

Layout (25 chars, all lowercase base36): "c" + 8 timestamp + 4 counter + 4 fingerprint
+ 8 random. The timestamp prefix keeps ids roughly sortable by creation time, which is why
the seed chose CUIDs over UUIDs.
"""

from __future__ import annotations

import itertools
import os
import random
import secrets
import socket
import threading
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_BASE = 36
_BLOCK = 4
_counter = itertools.count(secrets.randbelow(_BASE**_BLOCK))
_lock = threading.Lock()
# The random block keeps ids from two processes apart, it guards nothing (tokens and keys
# come from `secrets`). A generator of our own, seeded from the OS and again in every
# forked child, spares a system call per id (metering makes a thousand per batch) and is
# untouched by tests that seed the global `random`.
_random = random.Random(secrets.randbits(128))
os.register_at_fork(after_in_child=lambda: _random.seed(secrets.randbits(128)))


# Two digits per division: ids are made a thousand at a time on the ingest path.
_PAIRS = [high + low for high in _ALPHABET for low in _ALPHABET]


def _base36(number: int, width: int) -> str:
    """The last `width` (even) base-36 digits of `number`, zero-padded."""
    pairs = []
    for _ in range(width // 2):
        number, rem = divmod(number, _BASE * _BASE)
        pairs.append(_PAIRS[rem])
    return "".join(reversed(pairs))


def _fingerprint() -> str:
    host = sum(socket.gethostname().encode()) + _BASE
    return _base36(os.getpid(), 2) + _base36(host, 2)


_FINGERPRINT = _fingerprint()


def cuid() -> str:
    with _lock:
        count = next(_counter) % (_BASE**_BLOCK)
    return (
        "c"
        + _base36(int(time.time() * 1000), 8)
        + _base36(count, _BLOCK)
        + _FINGERPRINT
        + _base36(_random.randrange(_BASE**8), 8)
    )


def is_cuid(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) == 25
        and value[0] == "c"
        and all(ch in _ALPHABET for ch in value)
    )
