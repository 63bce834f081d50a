"""Who is calling and for which request, carried through RPC and events.

The gateway puts these keys into nameko's context data; nameko sends context data as
`nameko.*` message headers on every RPC call and event, so each service sees the same
request id and actor. A contextvar makes them visible to logging and to the audit helper
without passing them through every function.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

REQUEST_ID = "request_id"
ACTOR_ID = "actor_id"
ACTOR_TYPE = "actor_type"
IS_STAFF = "is_staff"
CLIENT_IP = "client_ip"
USER_AGENT = "user_agent"


@dataclass(frozen=True)
class CallContext:
    request_id: str | None = None
    actor_id: str | None = None
    # "user", "api_key", "system" (jobs, event handlers) or "anonymous".
    actor_type: str = "system"
    is_staff: bool = False
    client_ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def from_context_data(cls, data: dict[str, Any]) -> CallContext:
        return cls(
            request_id=data.get(REQUEST_ID),
            actor_id=data.get(ACTOR_ID),
            actor_type=data.get(ACTOR_TYPE) or "system",
            is_staff=bool(data.get(IS_STAFF)),
            client_ip=data.get(CLIENT_IP),
            user_agent=data.get(USER_AGENT),
        )

    def to_context_data(self) -> dict[str, Any]:
        data = {
            REQUEST_ID: self.request_id,
            ACTOR_ID: self.actor_id,
            ACTOR_TYPE: self.actor_type,
            IS_STAFF: self.is_staff,
            CLIENT_IP: self.client_ip,
            USER_AGENT: self.user_agent,
        }
        # nameko drops None headers with a warning; leave them out instead.
        return {key: value for key, value in data.items() if value is not None}


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
