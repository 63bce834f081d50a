"""Who may do what, written once: the gateway checks it per route, and services check it
again on every call, so an RPC that bypasses the gateway cannot act for another
organization. The table in docs/authorization.md is this module, per endpoint."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from shared import context
from shared.errors import Forbidden, NotFound, Unauthorized


class MemberRole(enum.StrEnum):
    """The seed's MemberRole."""

    OWNER = "OWNER"
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"
    BILLING = "BILLING"


ALL_ROLES = frozenset(MemberRole)


@dataclass(frozen=True)
class Permission:
    name: str
    roles: frozenset[MemberRole]
    # API-key scopes that also grant it (terminals and integrations); none by default.
    scopes: frozenset[str] = frozenset()


VIEW_ORGANIZATION = Permission("view organization", ALL_ROLES)
MANAGE_ORGANIZATION = Permission(
    "manage organization", frozenset({MemberRole.OWNER, MemberRole.ADMIN})
)
DELETE_ORGANIZATION = Permission("delete organization", frozenset({MemberRole.OWNER}))
TRANSFER_OWNERSHIP = Permission("transfer ownership", frozenset({MemberRole.OWNER}))
VIEW_MEMBERS = Permission(
    "view members", frozenset({MemberRole.OWNER, MemberRole.ADMIN, MemberRole.MEMBER})
)
MANAGE_MEMBERS = Permission("manage members", frozenset({MemberRole.OWNER, MemberRole.ADMIN}))
MANAGE_API_KEYS = Permission("manage API keys", frozenset({MemberRole.OWNER, MemberRole.ADMIN}))

# The seed: MEMBER "can view and use services"; BILLING "can only view/pay invoices".
VIEW_SERVICES = Permission(
    "view services", frozenset({MemberRole.OWNER, MemberRole.ADMIN, MemberRole.MEMBER})
)
VIEW_BILLING = Permission(
    "view billing", frozenset({MemberRole.OWNER, MemberRole.ADMIN, MemberRole.BILLING})
)
USE_SUPPORT = Permission("use support", ALL_ROLES)
PAY_INVOICES = Permission(
    "pay invoices", frozenset({MemberRole.OWNER, MemberRole.ADMIN, MemberRole.BILLING})
)
VIEW_USAGE = Permission(
    "view usage",
    frozenset({MemberRole.OWNER, MemberRole.ADMIN, MemberRole.MEMBER}),
    frozenset({"usage:read"}),
)
VIEW_AUDIT = Permission("view audit trail", frozenset({MemberRole.OWNER, MemberRole.ADMIN}))

API_KEY_SCOPES = frozenset({"pos:read", "pos:write", "usage:read", "usage:write"})


def require_actor() -> context.CallContext:
    ctx = context.current()
    if ctx.actor_type == context.ANONYMOUS or (
        ctx.actor_type != context.SYSTEM and not ctx.actor_id
    ):
        raise Unauthorized("sign in first")
    return ctx


def require_user() -> context.CallContext:
    ctx = require_actor()
    if ctx.actor_type != context.USER:
        raise Forbidden("only a signed-in person can do this")
    return ctx


def require_staff() -> context.CallContext:
    ctx = require_actor()
    if not (ctx.actor_type == context.SYSTEM or (ctx.actor_type == context.USER and ctx.is_staff)):
        raise Forbidden("CVT staff only")
    return ctx


def require_system() -> context.CallContext:
    """Only the suite itself (jobs, event handlers, other services' handlers), never a
    person or a key, not even staff."""
    ctx = context.current()
    if ctx.actor_type != context.SYSTEM:
        raise Forbidden("internal operation")
    return ctx


def authorize(organization_id: str, permission: Permission) -> context.CallContext:
    """Allow the current caller to act on `organization_id` with `permission`, or raise.

    Someone outside the organization gets NotFound, not Forbidden: they must not learn
    that it exists.
    """
    return check_access(require_actor(), organization_id, permission)


def allows(ctx: context.CallContext, organization_id: str, permission: Permission) -> bool:
    """Whether `ctx` may act on `organization_id` with `permission`: for what an answer
    shows only to some of those who may see it (an organization's billing account)."""
    try:
        check_access(ctx, organization_id, permission)
    except (Forbidden, NotFound):
        return False
    return True


def organization_not_visible() -> NotFound:
    """What anyone outside an organization learns about it: nothing."""
    return NotFound("organization not found", {"organization_id": ["not found"]})


def check_access(
    ctx: context.CallContext, organization_id: str, permission: Permission
) -> context.CallContext:
    """`authorize` for a given caller: the gateway checks the context it is about to send
    with the same rule every service applies to it."""
    if ctx.actor_type == context.SYSTEM or (ctx.actor_type == context.USER and ctx.is_staff):
        return ctx
    if ctx.organization_id != organization_id:
        raise organization_not_visible()
    if ctx.actor_type == context.API_KEY:
        if not permission.scopes & set(ctx.scopes):
            raise Forbidden(f"this API key may not {permission.name}")
        return ctx
    if ctx.role not in permission.roles:
        raise Forbidden(f"your role may not {permission.name}")
    return ctx
