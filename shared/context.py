"""Who is calling and for which request, carried through RPC and events, and signed.

The gateway puts these keys into nameko's context data; nameko sends context data as
`nameko.*` message headers on every RPC call and event, so each service sees the same
request id and actor. A contextvar makes them visible to logging and to the audit helper
without passing them through every function.

Headers are whatever the publisher wrote, and anything that may publish on the broker can
write them. So `to_context_data()` adds an HMAC-SHA256 `signature` over every field, keyed
with `CONTEXT_SIGNING_KEY`, and services believe a context only through `verified()`.
Every way a context leaves a process (the gateway's requests, `as_system()`, events put in
the outbox, nameko forwarding a worker's context on its RPC calls) goes through
`to_context_data()`, so none of them signs on its own.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, fields
from typing import Any

from shared import config

USER = "user"
API_KEY = "api_key"
SYSTEM = "system"
ANONYMOUS = "anonymous"

SIGNATURE = "signature"
HEADER_PREFIX = "nameko."
MIN_KEY_LENGTH = 32
# Part of what is signed: a MAC made for another purpose with the same key never passes.
_SIGNED_AS = "cvt-call-context-v1"
# How much of an untrusted claim is repeated in logs and audit rows.
_MAX_SHOWN = 200
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


class SigningKeyMissing(RuntimeError):
    """No usable CONTEXT_SIGNING_KEY: a process cannot sign nor check call contexts."""


class UntrustedContext(Exception):
    """Context data the suite did not sign, or that changed after it was signed."""

    def __init__(self, reason: str, data: Mapping[str, Any]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.claims = _claims(data)

    def describe(self) -> str:
        claimed = ", ".join(f"{name}={value!r}" for name, value in self.claims.items())
        return f"{self.reason} (claims {claimed or 'nothing'})"


def signing_keys() -> tuple[bytes, ...]:
    """The configured keys, the one that signs first; all of them verify (rotation)."""
    return _parsed_keys(config.CONTEXT_SIGNING_KEY.get())


# Every RPC call, event and request signs or checks a context: parse the setting once per
# value, not once per message (a changed value, as tests make, is parsed again).
@functools.lru_cache(maxsize=4)
def _parsed_keys(value: str) -> tuple[bytes, ...]:
    setting = config.CONTEXT_SIGNING_KEY
    keys = [key.strip() for key in value.split(",") if key.strip()]
    if not keys:
        raise SigningKeyMissing(
            f"{setting.name} is not set. Every process of the suite signs and checks call "
            f"contexts with it, so all of them need the same value (a random string of at "
            f"least {MIN_KEY_LENGTH} characters, e.g. "
            f"`python -c 'import secrets; print(secrets.token_urlsafe(32))'`); "
            f"`python -m ops up` makes one in {config.CVT_VAR_DIR.name}."
        )
    if any(len(key) < MIN_KEY_LENGTH for key in keys):
        raise SigningKeyMissing(
            f"{setting.name} holds a key shorter than {MIN_KEY_LENGTH} characters; "
            "use a random one that long or longer."
        )
    return tuple(key.encode() for key in keys)


@dataclass(frozen=True)
class CallContext:
    """Who acts, for which request, and (when the gateway vetted it) in which organization
    with which role or API-key scopes."""

    request_id: str | None = None
    actor_id: str | None = None
    # USER, API_KEY, SYSTEM (jobs, event handlers, ops commands) or ANONYMOUS.
    actor_type: str = SYSTEM
    is_staff: bool = False
    organization_id: str | None = None
    role: str | None = None
    scopes: tuple[str, ...] = ()
    session_id: str | None = None
    # Signed too: identity counts sign-ins and sign-ups per client address.
    client_ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def from_context_data(cls, data: Mapping[str, Any]) -> CallContext:
        """What `data` claims, unchecked (see `verified`). An RPC call that arrives
        without an actor is anonymous: it may do nothing that needs one. Only code inside
        the suite (jobs, handlers) acts as SYSTEM."""
        return cls(
            request_id=data.get("request_id"),
            actor_id=data.get("actor_id"),
            actor_type=data.get("actor_type") or ANONYMOUS,
            is_staff=bool(data.get("is_staff")),
            organization_id=data.get("organization_id"),
            role=data.get("role"),
            scopes=tuple(data.get("scopes") or ()),
            session_id=data.get("session_id"),
            client_ip=data.get("client_ip"),
            user_agent=data.get("user_agent"),
        )

    @classmethod
    def verified(cls, data: Mapping[str, Any]) -> CallContext:
        """The context `data` carries, if a process holding one of the keys signed exactly
        these fields; else `UntrustedContext`."""
        signature = data.get(SIGNATURE)
        if signature is None:
            raise UntrustedContext("unsigned call context", data)
        try:
            ctx = cls.from_context_data(data)
            canonical = _canonical(ctx._values())
            expected = [_mac(key, canonical) for key in signing_keys()]
        except (TypeError, ValueError) as exc:
            raise UntrustedContext("malformed call context", data) from exc
        given = signature.encode() if isinstance(signature, str) else b""
        if not any(hmac.compare_digest(given, mac.encode()) for mac in expected):
            raise UntrustedContext("wrong signature on the call context", data)
        return ctx

    def to_context_data(self) -> dict[str, Any]:
        """Nameko context data, signed with the first configured key."""
        data = self._values()
        data[SIGNATURE] = _mac(signing_keys()[0], _canonical(data))
        # nameko drops None headers with a warning; leave them out instead.
        return {key: value for key, value in data.items() if value not in (None, [])}

    def _values(self) -> dict[str, Any]:
        """Every field by name, scopes as a list (JSON's and AMQP's form). `asdict` would
        do the same with deep copies, at a cost felt on every request."""
        values = {name: getattr(self, name) for name in _FIELD_NAMES}
        values["scopes"] = list(self.scopes)
        return values

    def to_headers(self) -> dict[str, Any]:
        """The same as AMQP headers, for messages published without nameko's help."""
        return {HEADER_PREFIX + key: value for key, value in self.to_context_data().items()}


_FIELD_NAMES = tuple(f.name for f in fields(CallContext))
# json.dumps with options builds an encoder per call; one made once encodes the same bytes.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _canonical(values: Mapping[str, Any]) -> bytes:
    """Every field in one canonical JSON form (names sorted, no spaces): what is signed."""
    values = {name: values[name] for name in _FIELD_NAMES}
    return _CANONICAL_JSON.encode([_SIGNED_AS, values]).encode()


def _mac(key: bytes, canonical: bytes) -> str:
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def _claims(data: Mapping[str, Any]) -> dict[str, Any]:
    """The context fields `data` claims, made safe to log and to store: printable, short."""
    return {f.name: _shown(data[f.name]) for f in fields(CallContext) if f.name in data}


def _shown(value: Any) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, list | tuple):
        return [_shown(item) for item in value[:20]]
    text = value if isinstance(value, str) else repr(value)
    return _UNPRINTABLE.sub("?", text)[:_MAX_SHOWN]


# CallContext is frozen, so one shared default instance is safe.
_current: ContextVar[CallContext] = ContextVar(
    "cvt_call_context",
    default=CallContext(),  # noqa: B039
)


def current() -> CallContext:
    return _current.get()


def bind(ctx: CallContext) -> None:
    """Make `ctx` the current call context of this greenthread (each worker has its own)."""
    _current.set(ctx)
