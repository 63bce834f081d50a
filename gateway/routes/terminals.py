"""What POS terminals call with their API key: who they are, and the usage they report."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request

from gateway.access import terminals_with
from gateway.routing import Gateway, RouteTable
from gateway.usage import accept_usage
from services.identity import schemas as identity
from services.metering import schemas as metering
from shared import context
from shared.rpc import call

routes = RouteTable("terminals")


@routes.add(
    "GET",
    "/v1/terminal/whoami",
    summary="The organization and scopes of this API key",
    access=terminals_with("pos:read"),
    response=identity.TerminalIdentitySchema,
)
def terminal_whoami(gateway: Gateway, request: Request) -> dict[str, Any]:
    ctx = context.current()
    return {
        "organization_id": ctx.organization_id,
        "api_key_id": ctx.actor_id,
        "scopes": list(ctx.scopes),
    }


@routes.add(
    "POST",
    "/v1/usage-events",
    summary="Report usage: one event or a batch; 202 once the valid events are safe, 422 "
    "(each event's errors in `fields`) if none is valid",
    access=terminals_with("usage:write"),
    request=metering.UsageBatchSchema,
    response=metering.UsageAcceptedSchema,
    status=202,
)
def report_usage(gateway: Gateway, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    known = gateway.usage.event_types(lambda: call(gateway.metering.active_event_types))
    return accept_usage(gateway.usage, body, known)
