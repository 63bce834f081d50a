"""The audit trail: every service's rows (hash-chained in each service) as one trail,
newest first: staff read all of it, an organization's OWNER and ADMIN its own part."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request

from gateway.access import STAFF, members_who_may
from gateway.audit_trail import merged_trail
from gateway.routing import STAFF_TAGS, Gateway, RouteTable
from gateway.schemas import OrganizationTrailQuerySchema, TrailQuerySchema
from shared import config
from shared.audit import AuditPageSchema
from shared.authorization import VIEW_AUDIT
from shared.schemas import load

routes = RouteTable("audit")


def _trail(
    gateway: Gateway, query: dict[str, str], schema: TrailQuerySchema, **fixed: str
) -> dict[str, Any]:
    """The query as sent (checked by the route), with the values the path fixes."""
    page = load(schema, query)
    trails = {name: getattr(gateway, name).audit_trail for name in config.SERVICES}
    return merged_trail(trails, {**query, **fixed}, page["limit"], page["offset"])


@routes.add(
    "GET",
    "/v1/admin/audit",
    summary="Every service's audit trail as one, newest first: by organization, actor, "
    "entity, action, request id or time; each row names its service (503 naming any "
    "service that did not answer)",
    access=STAFF,
    query=TrailQuerySchema,
    response=AuditPageSchema,
    tags=STAFF_TAGS,
)
def audit_trail(gateway: Gateway, request: Request, query: dict[str, str]) -> dict[str, Any]:
    return _trail(gateway, query, TrailQuerySchema())


@routes.add(
    "GET",
    "/v1/organizations/<org_id>/audit",
    summary="What was done in and to the organization, newest first: by actor, entity, "
    "action, request id or time",
    access=members_who_may(VIEW_AUDIT),
    query=OrganizationTrailQuerySchema,
    response=AuditPageSchema,
)
def organization_audit_trail(
    gateway: Gateway, request: Request, org_id: str, query: dict[str, str]
) -> dict[str, Any]:
    return _trail(gateway, query, OrganizationTrailQuerySchema(), organization_id=org_id)
