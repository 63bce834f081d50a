"""Members of an organization, their roles, and invitations to join."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request

from gateway.access import SIGNED_IN, members_who_may
from gateway.routing import Gateway, RouteTable
from services.identity import schemas as identity
from shared.authorization import MANAGE_MEMBERS, VIEW_MEMBERS
from shared.rpc import call
from shared.schemas import PageQuerySchema

routes = RouteTable("members")


@routes.add(
    "GET",
    "/v1/organizations/<org_id>/members",
    summary="Members and their roles, oldest first",
    access=members_who_may(VIEW_MEMBERS),
    query=PageQuerySchema,
    response=identity.MemberPageSchema,
)
def list_members(gateway: Gateway, request: Request, org_id: str, query: dict) -> dict[str, Any]:
    return call(gateway.identity.list_members, org_id, query)


@routes.add(
    "PATCH",
    "/v1/organizations/<org_id>/members/<member_id>",
    summary="Change a role",
    access=members_who_may(MANAGE_MEMBERS),
    request=identity.RoleChangeSchema,
    response=identity.MemberSchema,
    errors=[409],
)
def change_member_role(
    gateway: Gateway, request: Request, org_id: str, member_id: str, body: dict
) -> dict[str, Any]:
    return call(gateway.identity.change_member_role, org_id, member_id, body)


@routes.add(
    "DELETE",
    "/v1/organizations/<org_id>/members/<member_id>",
    summary="Remove a member",
    access=members_who_may(MANAGE_MEMBERS),
    status=204,
    errors=[409],
)
def remove_member(gateway: Gateway, request: Request, org_id: str, member_id: str) -> None:
    call(gateway.identity.remove_member, org_id, member_id)


@routes.add(
    "POST",
    "/v1/organizations/<org_id>/invitations",
    summary="Invite someone by email (valid 7 days)",
    access=members_who_may(MANAGE_MEMBERS),
    request=identity.InvitationCreateSchema,
    response=identity.InvitationSchema,
    status=201,
    errors=[409],
)
def invite_member(gateway: Gateway, request: Request, org_id: str, body: dict) -> dict:
    return call(gateway.identity.invite_member, org_id, body)


@routes.add(
    "GET",
    "/v1/organizations/<org_id>/invitations",
    summary="Pending invitations, oldest first",
    access=members_who_may(MANAGE_MEMBERS),
    query=PageQuerySchema,
    response=identity.InvitationPageSchema,
)
def list_invitations(gateway: Gateway, request: Request, org_id: str, query: dict) -> dict:
    return call(gateway.identity.list_invitations, org_id, query)


@routes.add(
    "DELETE",
    "/v1/organizations/<org_id>/invitations/<invitation_id>",
    summary="Withdraw an invitation",
    access=members_who_may(MANAGE_MEMBERS),
    status=204,
    errors=[409],
)
def revoke_invitation(gateway: Gateway, request: Request, org_id: str, invitation_id: str) -> None:
    call(gateway.identity.revoke_invitation, org_id, invitation_id)


@routes.add(
    "POST",
    "/v1/invitations/accept",
    summary="Accept an invitation sent to your email address",
    access=SIGNED_IN,
    request=identity.TokenSchema,
    response=identity.MemberSchema,
    errors=[409],
)
def accept_invitation(gateway: Gateway, request: Request, body: dict[str, Any]) -> dict:
    return call(gateway.identity.accept_invitation, body)
