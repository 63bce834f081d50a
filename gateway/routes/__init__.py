"""The gateway's routes, one module per area of the API. Adding an endpoint touches its
area's module only; adding an area adds it here. The order is the order of
docs/authorization.md and of /v1/openapi.json's tags."""

from __future__ import annotations

from gateway.routes import (
    api_keys,
    audit,
    auth,
    billing,
    emails,
    members,
    operations,
    organizations,
    payments,
    settings,
    staff,
    support,
    terminals,
    usage,
)
from gateway.routing import Route

AREAS = (
    operations,
    auth,
    organizations,
    members,
    api_keys,
    terminals,
    usage,
    billing,
    payments,
    support,
    audit,
    emails,
    settings,
    staff,
)
ROUTES: tuple[Route, ...] = tuple(route for area in AREAS for route in area.routes)
