"""Who is calling and for which request, carried through RPC and events.

The gateway puts these keys into nameko's context data; nameko sends context data as
`nameko.*` message headers on every RPC call and event, so each service sees the same
request id and actor. A contextvar makes them visible to logging and to the audit helper
without passing them through every function.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any

USER = "user"
API_KEY = "api_key"
SYSTEM = "system"
ANONYMOUS = "anonymous"


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
    client_ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def from_context_data(cls, data: dict[str, Any]) -> CallContext:
        """An RPC call that arrives without an actor is anonymous: it may do nothing that
        needs one. Only code inside the suite (jobs, handlers) acts as SYSTEM."""
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

    def to_context_data(self) -> dict[str, Any]:
        data = asdict(self)
        data["scopes"] = list(self.scopes)
        # nameko drops None headers with a warning; leave them out instead.
        return {key: value for key, value in data.items() if value not in (None, [])}


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
