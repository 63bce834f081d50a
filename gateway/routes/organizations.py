"""Organizations: create one, see it with its billing status, change, delete, hand over."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request

from gateway.access import SIGNED_IN, members_who_may
from gateway.routing import Gateway, RouteTable
from gateway.schemas import OrganizationDetailSchema
from services.identity import schemas as identity
from shared import context
from shared.authorization import (
    DELETE_ORGANIZATION,
    MANAGE_ORGANIZATION,
    TRANSFER_OWNERSHIP,
    VIEW_BILLING,
    VIEW_ORGANIZATION,
    allows,
)
from shared.errors import NotFound, Unavailable
from shared.rpc import call

# Less than the gateway's RPC deadline: the organization is worth showing without it.
BILLING_STATUS_TIMEOUT = 3.0

routes = RouteTable("organizations")


@routes.add(
    "POST",
    "/v1/organizations",
    summary="Create an organization; you become its OWNER",
    access=SIGNED_IN,
    request=identity.OrganizationCreateSchema,
    response=identity.OrganizationSchema,
    status=201,
    errors=[409],
)
def create_organization(gateway: Gateway, request: Request, body: dict[str, Any]) -> dict:
    return call(gateway.identity.create_organization, body)


@routes.add(
    "GET",
    "/v1/organizations/<org_id>",
    summary="An organization, and its billing account for those whose role may view billing",
    access=members_who_may(VIEW_ORGANIZATION),
    response=OrganizationDetailSchema,
)
def get_organization(gateway: Gateway, request: Request, org_id: str) -> dict[str, Any]:
    organization = call(gateway.identity.get_organization, org_id)
    if not allows(context.current(), org_id, VIEW_BILLING):
        # The balance is billing's to show: a MEMBER is refused /billing-account, and
        # learns it no more here.
        return {**organization, "billing_account": None}
    try:
        account = call(gateway.billing.get_billing_account, org_id, timeout=BILLING_STATUS_TIMEOUT)
    except (NotFound, Unavailable):
        # Not opened yet (billing reacts to the event), or billing is down: the
        # organization itself is still worth showing.
        account = None
    return {**organization, "billing_account": account}


@routes.add(
    "PATCH",
    "/v1/organizations/<org_id>",
    summary="Change an organization's details",
    access=members_who_may(MANAGE_ORGANIZATION),
    request=identity.OrganizationUpdateSchema,
    response=identity.OrganizationSchema,
)
def update_organization(gateway: Gateway, request: Request, org_id: str, body: dict) -> dict:
    return call(gateway.identity.update_organization, org_id, body)


@routes.add(
    "DELETE",
    "/v1/organizations/<org_id>",
    summary="Delete an organization (its members, invitations and API keys go too)",
    access=members_who_may(DELETE_ORGANIZATION),
    status=204,
)
def delete_organization(gateway: Gateway, request: Request, org_id: str) -> None:
    call(gateway.identity.delete_organization, org_id)


@routes.add(
    "POST",
    "/v1/organizations/<org_id>/transfer-ownership",
    summary="Make a member OWNER; you become ADMIN",
    access=members_who_may(TRANSFER_OWNERSHIP),
    request=identity.OwnershipTransferSchema,
    response=identity.MemberSchema,
)
def transfer_ownership(gateway: Gateway, request: Request, org_id: str, body: dict) -> dict:
    return call(gateway.identity.transfer_ownership, org_id, body)
