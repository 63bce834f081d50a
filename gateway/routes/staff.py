"""Staff's directory: every organization, user, invoice and leased service; and users
disabled and enabled."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request

from gateway.access import STAFF
from gateway.routing import Gateway, RouteTable
from services.billing import schemas as billing
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


@routes.add(
    "GET",
    "/v1/admin/invoices",
    summary="Every organization's invoices, newest period first, by status, period, "
    "organization or overdue (past due with something still due)",
    access=STAFF,
    query=billing.InvoiceAdminQuerySchema,
    response=billing.InvoiceAdminPageSchema,
)
def list_all_invoices(gateway: Gateway, request: Request, query: dict) -> dict[str, Any]:
    return call(gateway.billing.list_all_invoices, query)


@routes.add(
    "GET",
    "/v1/admin/services",
    summary="Every organization's leased services, newest first, by status, hardware "
    "serial or organization",
    access=STAFF,
    query=billing.ServiceAdminQuerySchema,
    response=billing.ServicePageSchema,
)
def list_all_services(gateway: Gateway, request: Request, query: dict) -> dict[str, Any]:
    return call(gateway.billing.list_all_services, query)


@routes.add(
    "GET",
    "/v1/admin/services/<service_id>",
    summary="Any organization's service, with terms agreed for later",
    access=STAFF,
    response=billing.ServiceSchema,
)
def get_any_service(gateway: Gateway, request: Request, service_id: str) -> dict[str, Any]:
    return call(gateway.billing.get_any_service, service_id)


@routes.add(
    "POST",
    "/v1/admin/users/<user_id>/disable",
    summary="Disable a user: every session of theirs ends now and they cannot sign in "
    "(their organizations' API keys keep working); not yourself (409)",
    access=STAFF,
    response=identity.UserSchema,
    errors=[409],
)
def disable_user(gateway: Gateway, request: Request, user_id: str) -> dict[str, Any]:
    return call(gateway.identity.disable_user, user_id)


@routes.add(
    "POST",
    "/v1/admin/users/<user_id>/enable",
    summary="Let a disabled user sign in again",
    access=STAFF,
    response=identity.UserSchema,
)
def enable_user(gateway: Gateway, request: Request, user_id: str) -> dict[str, Any]:
    return call(gateway.identity.enable_user, user_id)
