"""Members of an organization, their roles, and invitations to join.

Role rules (the seed's meaning): OWNER may do everything; ADMIN manages members but
cannot remove or demote an OWNER, nor make anyone OWNER; an organization always keeps at
least one OWNER. CVT staff act with an OWNER's powers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from services.identity import settings
from services.identity.events import InvitationCreated, MemberAdded, MemberRemoved
from services.identity.models import (
    DepartedOrganization,
    Invitation,
    Organization,
    OrganizationMember,
    User,
)
from services.identity.schemas import (
    BillingContactsSchema,
    InvitationCreateSchema,
    InvitationSchema,
    MemberSchema,
    OwnershipTransferSchema,
    RoleChangeSchema,
    TokenSchema,
)
from services.identity.tenants import authorize_in, existing_organization
from services.identity.users import normalize_email
from shared import context
from shared.authorization import (
    MANAGE_MEMBERS,
    TRANSFER_OWNERSHIP,
    VIEW_MEMBERS,
    MemberRole,
    authorize,
    require_system,
    require_user,
)
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.ids import is_cuid
from shared.pagination import paginate
from shared.schemas import PageQuerySchema, load
from shared.tokens import new_secret, secret_hash
from shared.unit_of_work import UnitOfWork

# The seed: OWNER has full control, BILLING views and pays invoices; both get billing mail.
BILLING_MAIL_ROLES = (MemberRole.OWNER, MemberRole.BILLING)


def _acting_role(ctx: context.CallContext) -> MemberRole:
    if ctx.is_staff or ctx.actor_type == context.SYSTEM:
        return MemberRole.OWNER
    return MemberRole(ctx.role)


def _member(uow: UnitOfWork, organization_id: str, member_id: str) -> OrganizationMember:
    member = uow.session.get(OrganizationMember, member_id)
    if member is None or member.organization_id != organization_id:
        raise NotFound("member not found", {"member_id": ["not found"]})
    return member


def _owner_count(uow: UnitOfWork, organization_id: str) -> int:
    """Counted under a lock on the organization, so two owners demoting each other at the
    same moment cannot leave it with none."""
    uow.session.get(Organization, organization_id, with_for_update=True)
    return uow.session.scalar(
        select(func.count()).where(
            OrganizationMember.organization_id == organization_id,
            OrganizationMember.role == MemberRole.OWNER,
        )
    )


def _dump_member(member: OrganizationMember, user: User) -> dict[str, Any]:
    return MemberSchema().dump(
        {
            "id": member.id,
            "user_id": user.id,
            "email": user.email,
            "name": user.name,
            "role": member.role.value,
            "created_at": member.created_at,
        }
    )


def list_members(uow: UnitOfWork, organization_id: str, query: dict[str, Any]) -> dict[str, Any]:
    authorize_in(uow, organization_id, VIEW_MEMBERS)
    page = load(PageQuerySchema(), query)
    statement = (
        select(OrganizationMember, User)
        .join(User, User.id == OrganizationMember.user_id)
        .where(OrganizationMember.organization_id == organization_id)
        .order_by(OrganizationMember.created_at, OrganizationMember.id)
    )
    return paginate(uow.session, statement, page, _dump_member)


def change_role(
    uow: UnitOfWork, organization_id: str, member_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    ctx = authorize_in(uow, organization_id, MANAGE_MEMBERS)
    new_role = MemberRole(load(RoleChangeSchema(), data)["role"])
    member = _member(uow, organization_id, member_id)
    acting = _acting_role(ctx)
    if acting != MemberRole.OWNER and MemberRole.OWNER in (member.role, new_role):
        raise Forbidden("only an OWNER can make or unmake an OWNER")
    if (
        member.role == MemberRole.OWNER
        and new_role != MemberRole.OWNER
        and _owner_count(uow, organization_id) == 1
    ):
        raise Conflict("an organization keeps at least one OWNER", {"role": ["last OWNER"]})
    old_role, member.role = member.role, new_role
    uow.audit(
        "member.role_changed",
        "OrganizationMember",
        member.id,
        {"organization_id": organization_id, "from": old_role.value, "to": new_role.value},
        organization_id=organization_id,
    )
    return _dump_member(member, uow.session.get(User, member.user_id))


def remove_member(uow: UnitOfWork, organization_id: str, member_id: str) -> None:
    ctx = authorize_in(uow, organization_id, MANAGE_MEMBERS)
    member = _member(uow, organization_id, member_id)
    if member.role == MemberRole.OWNER:
        if _acting_role(ctx) != MemberRole.OWNER:
            raise Forbidden("only an OWNER can remove an OWNER")
        if _owner_count(uow, organization_id) == 1:
            raise Conflict(
                "an organization keeps at least one OWNER", {"member_id": ["last OWNER"]}
            )
    uow.session.delete(member)
    uow.audit(
        "member.removed",
        "OrganizationMember",
        member.id,
        {"organization_id": organization_id, "user_id": member.user_id},
        organization_id=organization_id,
    )
    uow.emit(MemberRemoved(organization_id=organization_id, user_id=member.user_id))


def transfer_ownership(
    uow: UnitOfWork, organization_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    ctx = authorize_in(uow, organization_id, TRANSFER_OWNERSHIP)
    target = _member(uow, organization_id, load(OwnershipTransferSchema(), data)["member_id"])
    target.role = MemberRole.OWNER
    if ctx.actor_type == context.USER and not ctx.is_staff:
        me = uow.session.scalar(
            select(OrganizationMember).where(
                OrganizationMember.organization_id == organization_id,
                OrganizationMember.user_id == ctx.actor_id,
            )
        )
        if me is not None and me.id != target.id:
            me.role = MemberRole.ADMIN
    uow.audit(
        "organization.ownership_transferred",
        "Organization",
        organization_id,
        {"to_member_id": target.id},
        organization_id=organization_id,
    )
    return _dump_member(target, uow.session.get(User, target.user_id))


def invite(uow: UnitOfWork, organization_id: str, data: dict[str, Any]) -> dict[str, Any]:
    ctx = authorize(organization_id, MANAGE_MEMBERS)
    fields = load(InvitationCreateSchema(), data)
    organization = existing_organization(uow, organization_id)
    role = MemberRole(fields["role"])
    if role == MemberRole.OWNER and _acting_role(ctx) != MemberRole.OWNER:
        raise Forbidden("only an OWNER can invite an OWNER")
    email = normalize_email(fields["email"])
    already = uow.session.scalar(
        select(OrganizationMember.id)
        .join(User, User.id == OrganizationMember.user_id)
        .where(OrganizationMember.organization_id == organization_id, User.email == email)
    )
    if already:
        raise Conflict("already a member", {"email": ["already a member"]})
    invitation = Invitation(
        organization_id=organization_id,
        email=email,
        role=role,
        # Unusable until notifications asks for the token it will email.
        token_hash=secret_hash(new_secret()),
        invited_by_id=ctx.actor_id if ctx.actor_type == context.USER else None,
        expires_at=utcnow() + settings.invitation_lifetime(uow),
    )
    uow.session.add(invitation)
    uow.session.flush()
    uow.audit(
        "invitation.created",
        "Invitation",
        invitation.id,
        {"email": email, "role": role},
        organization_id=organization_id,
    )
    uow.emit(
        InvitationCreated(
            invitation_id=invitation.id,
            organization_id=organization_id,
            organization_name=organization.name,
            email=email,
            role=role.value,
        )
    )
    return InvitationSchema().dump(invitation)


def issue_invitation_token(uow: UnitOfWork, invitation_id: str) -> dict[str, Any] | None:
    """A fresh token for the invitation email (asked by notifications right before it
    sends); None if the invitation is no longer pending."""
    require_system()
    invitation = uow.session.get(Invitation, invitation_id)
    if invitation is None or not _pending(invitation):
        return None
    token = new_secret()
    invitation.token_hash = secret_hash(token)
    return {"token": token, "email": invitation.email}


def _pending(invitation: Invitation) -> bool:
    return (
        invitation.accepted_at is None
        and invitation.revoked_at is None
        and invitation.expires_at > utcnow()
    )


def list_invitations(
    uow: UnitOfWork, organization_id: str, query: dict[str, Any]
) -> dict[str, Any]:
    """Pending invitations, oldest first."""
    authorize_in(uow, organization_id, MANAGE_MEMBERS)
    page = load(PageQuerySchema(), query)
    statement = (
        select(Invitation)
        .where(
            Invitation.organization_id == organization_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > utcnow(),
        )
        .order_by(Invitation.created_at, Invitation.id)
    )
    return paginate(uow.session, statement, page, InvitationSchema().dump)


def revoke_invitation(uow: UnitOfWork, organization_id: str, invitation_id: str) -> None:
    authorize_in(uow, organization_id, MANAGE_MEMBERS)
    invitation = uow.session.get(Invitation, invitation_id)
    if invitation is None or invitation.organization_id != organization_id:
        raise NotFound("invitation not found", {"invitation_id": ["not found"]})
    if not _pending(invitation):
        raise Conflict("the invitation is no longer pending")
    invitation.revoked_at = utcnow()
    uow.audit("invitation.revoked", "Invitation", invitation.id, organization_id=organization_id)


def accept_invitation(uow: UnitOfWork, data: dict[str, Any]) -> dict[str, Any]:
    ctx = require_user()
    token = load(TokenSchema(), data)["token"]
    invitation = uow.session.scalar(
        select(Invitation).where(Invitation.token_hash == secret_hash(token))
    )
    if invitation is None or not _pending(invitation):
        raise ValidationFailed("invalid or expired invitation", {"token": ["invalid or expired"]})
    user = uow.session.get(User, ctx.actor_id)
    if user is None or user.email != invitation.email:
        raise Forbidden("this invitation is for another email address")
    existing = uow.session.scalar(
        select(OrganizationMember).where(
            OrganizationMember.organization_id == invitation.organization_id,
            OrganizationMember.user_id == user.id,
        )
    )
    if existing is not None:
        raise Conflict("already a member", {"token": ["already a member"]})
    member = OrganizationMember(
        organization_id=invitation.organization_id, user_id=user.id, role=invitation.role
    )
    uow.session.add(member)
    invitation.accepted_at = utcnow()
    uow.session.flush()
    uow.audit(
        "member.added",
        "OrganizationMember",
        member.id,
        {"organization_id": invitation.organization_id, "invitation_id": invitation.id},
        # Accepting is a signed-in person's act outside any organization's context.
        organization_id=invitation.organization_id,
    )
    uow.emit(
        MemberAdded(
            organization_id=invitation.organization_id, user_id=user.id, role=member.role.value
        )
    )
    return _dump_member(member, user)


def billing_contacts(uow: UnitOfWork, organization_id: str) -> dict[str, Any]:
    """Whom billing mail goes to: the organization's address and its OWNER and BILLING
    members (OWNERs first, then by email). A disabled user is left out: they cannot sign
    in to act on it. Notifications deduplicates addresses across the two. A deleted
    organization's are those it had when it was deleted (its final invoice goes there)."""
    require_system()
    departed = (
        uow.session.get(DepartedOrganization, organization_id) if is_cuid(organization_id) else None
    )
    if departed is not None:
        return departed.billing_contacts
    return contacts_of(uow, existing_organization(uow, organization_id))


def contacts_of(uow: UnitOfWork, organization: Organization) -> dict[str, Any]:
    rows = uow.session.execute(
        select(User, OrganizationMember.role)
        .join(OrganizationMember, OrganizationMember.user_id == User.id)
        .where(
            OrganizationMember.organization_id == organization.id,
            OrganizationMember.role.in_(BILLING_MAIL_ROLES),
            User.disabled_at.is_(None),
        )
        .order_by(OrganizationMember.role, User.email)
    ).all()
    return BillingContactsSchema().dump(
        {
            "organization": organization,
            "people": [
                {"email": user.email, "name": user.name, "role": role.value} for user, role in rows
            ],
        }
    )
