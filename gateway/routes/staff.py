"""Staff's directory: every organization and every user."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request

from gateway.access import STAFF
from gateway.routing import Gateway, RouteTable
from services.identity import schemas as identity
from shared.rpc import call

routes = RouteTable("staff")


@routes.add(
    "GET",
    "/v1/admin/organizations",
    summary="Every organization, newest first",
    access=STAFF,
    query=identity.DirectoryQuerySchema,
    response=identity.OrganizationPageSchema,
)
def list_all_organizations(gateway: Gateway, request: Request, query: dict) -> dict[str, Any]:
    return call(gateway.identity.list_all_organizations, query)


@routes.add(
    "GET",
    "/v1/admin/users",
    summary="Every user, newest first",
    access=STAFF,
    query=identity.DirectoryQuerySchema,
    response=identity.UserPageSchema,
)
def list_all_users(gateway: Gateway, request: Request, query: dict) -> dict[str, Any]:
    return call(gateway.identity.list_all_users, query)
