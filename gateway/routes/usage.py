"""Usage: an organization's usage report, and the registry of event types terminals may
report (kept by staff)."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request

from gateway.access import STAFF, members_who_may
from gateway.routing import STAFF_TAGS, Gateway, RouteTable
from services.metering import schemas as metering
from shared.authorization import VIEW_USAGE
from shared.rpc import call
from shared.schemas import PageQuerySchema

routes = RouteTable("usage")


@routes.add(
    "GET",
    "/v1/organizations/<org_id>/usage",
    summary="Usage in [from, to), by day, event type, API key or invoice (hour precision)",
    access=members_who_may(VIEW_USAGE),
    query=metering.UsageQuerySchema,
    response=metering.UsageReportSchema,
)
def usage_report(gateway: Gateway, request: Request, org_id: str, query: dict) -> dict[str, Any]:
    return call(gateway.metering.usage_report, org_id, query)


@routes.add(
    "GET",
    "/v1/admin/event-types",
    summary="The usage event types terminals may report, by name",
    access=STAFF,
    query=PageQuerySchema,
    response=metering.EventTypePageSchema,
    tags=STAFF_TAGS,
)
def list_event_types(gateway: Gateway, request: Request, query: dict) -> dict[str, Any]:
    return call(gateway.metering.list_event_types, query)


@routes.add(
    "POST",
    "/v1/admin/event-types",
    summary="Register a usage event type",
    access=STAFF,
    request=metering.EventTypeCreateSchema,
    response=metering.EventTypeSchema,
    status=201,
    errors=[409],
    tags=STAFF_TAGS,
)
def create_event_type(gateway: Gateway, request: Request, body: dict[str, Any]) -> dict:
    return call(gateway.metering.create_event_type, body)


@routes.add(
    "PATCH",
    "/v1/admin/event-types/<name>",
    summary="Describe, retire or restore a usage event type",
    access=STAFF,
    request=metering.EventTypeUpdateSchema,
    response=metering.EventTypeSchema,
    tags=STAFF_TAGS,
)
def update_event_type(gateway: Gateway, request: Request, name: str, body: dict) -> dict:
    return call(gateway.metering.update_event_type, name, body)
