"""Members, roles, ownership and invitations."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from services.identity import members
from services.identity.models import Invitation, OrganizationMember
from services.identity.tests.helpers import (
    Person,
    UnitOfWorkFactory,
    add_member,
    as_system,
    as_user,
    make_organization,
    make_person,
    member_id_of,
    role_of,
)
from shared.authorization import MemberRole
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.ids import cuid
from shared.unit_of_work import UnitOfWork


def organization_with_owner(unit_of_work: UnitOfWorkFactory) -> tuple[str, Person, str]:
    """An organization, its OWNER and the OWNER's member id."""
    owner = make_person(unit_of_work)
    organization_id = make_organization(unit_of_work, owner)
    with unit_of_work("identity") as uow:
        owner_member_id = member_id_of(uow, organization_id, owner.id)
    assert owner_member_id is not None
    return organization_id, owner, owner_member_id


def invite(
    unit_of_work: UnitOfWorkFactory,
    organization_id: str,
    inviter: Person,
    email: str,
    role: MemberRole = MemberRole.MEMBER,
) -> str:
    with as_user(inviter, organization_id, MemberRole.OWNER), unit_of_work("identity") as uow:
        return members.invite(uow, organization_id, {"email": email, "role": role.value})["id"]


def invitation_token(unit_of_work: UnitOfWorkFactory, invitation_id: str) -> str:
    with as_system(), unit_of_work("identity") as uow:
        issued = members.issue_invitation_token(uow, invitation_id)
    assert issued is not None
    return issued["token"]


def accept(unit_of_work: UnitOfWorkFactory, person: Person, token: str) -> dict:
    with as_user(person), unit_of_work("identity") as uow:
        return members.accept_invitation(uow, {"token": token})


def test_a_member_of_another_organization_cannot_list_members(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    organization_id, owner, _ = organization_with_owner(unit_of_work)
    other_organization_id, outsider, _ = organization_with_owner(unit_of_work)
    with as_user(owner, organization_id, MemberRole.OWNER), unit_of_work("identity") as uow:
        listed = members.list_members(uow, organization_id, {})
    assert [m["user_id"] for m in listed["items"]] == [owner.id]
    assert (listed["total"], listed["limit"], listed["offset"]) == (1, 50, 0)
    with (
        as_user(outsider, other_organization_id, MemberRole.OWNER),
        pytest.raises(NotFound),
        unit_of_work("identity") as uow,
    ):
        members.list_members(uow, organization_id, {})


def test_an_admin_cannot_demote_remove_or_invite_an_owner(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    organization_id, owner, owner_member_id = organization_with_owner(unit_of_work)
    admin, _ = add_member(unit_of_work, organization_id, MemberRole.ADMIN)
    invitee = make_person(unit_of_work)
    with as_user(admin, organization_id, MemberRole.ADMIN):
        with pytest.raises(Forbidden), unit_of_work("identity") as uow:
            members.change_role(uow, organization_id, owner_member_id, {"role": "ADMIN"})
        with pytest.raises(Forbidden), unit_of_work("identity") as uow:
            members.remove_member(uow, organization_id, owner_member_id)
        with pytest.raises(Forbidden), unit_of_work("identity") as uow:
            members.invite(uow, organization_id, {"email": invitee.email, "role": "OWNER"})
    with unit_of_work("identity") as uow:
        assert role_of(uow, organization_id, owner.id) == MemberRole.OWNER
        assert (
            uow.session.scalars(
                select(Invitation).where(Invitation.organization_id == organization_id)
            ).all()
            == []
        )


def test_an_admin_cannot_make_anyone_owner(unit_of_work: UnitOfWorkFactory) -> None:
    organization_id, _, _ = organization_with_owner(unit_of_work)
    admin, _ = add_member(unit_of_work, organization_id, MemberRole.ADMIN)
    member, member_id = add_member(unit_of_work, organization_id, MemberRole.MEMBER)
    with (
        as_user(admin, organization_id, MemberRole.ADMIN),
        pytest.raises(Forbidden),
        unit_of_work("identity") as uow,
    ):
        members.change_role(uow, organization_id, member_id, {"role": "OWNER"})
    with unit_of_work("identity") as uow:
        assert role_of(uow, organization_id, member.id) == MemberRole.MEMBER


def test_the_last_owner_can_be_neither_demoted_nor_removed(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    organization_id, owner, owner_member_id = organization_with_owner(unit_of_work)
    with as_user(owner, organization_id, MemberRole.OWNER):
        with pytest.raises(Conflict), unit_of_work("identity") as uow:
            members.change_role(uow, organization_id, owner_member_id, {"role": "ADMIN"})
        with pytest.raises(Conflict), unit_of_work("identity") as uow:
            members.remove_member(uow, organization_id, owner_member_id)
    with unit_of_work("identity") as uow:
        assert role_of(uow, organization_id, owner.id) == MemberRole.OWNER


def test_one_of_two_owners_can_be_demoted(unit_of_work: UnitOfWorkFactory) -> None:
    organization_id, owner, _ = organization_with_owner(unit_of_work)
    second, second_member_id = add_member(unit_of_work, organization_id, MemberRole.OWNER)
    with as_user(owner, organization_id, MemberRole.OWNER), unit_of_work("identity") as uow:
        changed = members.change_role(uow, organization_id, second_member_id, {"role": "MEMBER"})
    assert changed["role"] == "MEMBER"
    with unit_of_work("identity") as uow:
        assert role_of(uow, organization_id, second.id) == MemberRole.MEMBER


def test_transfer_ownership_makes_the_target_owner_and_the_caller_admin(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    organization_id, owner, _ = organization_with_owner(unit_of_work)
    target, target_member_id = add_member(unit_of_work, organization_id, MemberRole.MEMBER)
    with as_user(owner, organization_id, MemberRole.OWNER), unit_of_work("identity") as uow:
        transferred = members.transfer_ownership(
            uow, organization_id, {"member_id": target_member_id}
        )
    assert (transferred["user_id"], transferred["role"]) == (target.id, "OWNER")
    with unit_of_work("identity") as uow:
        assert role_of(uow, organization_id, target.id) == MemberRole.OWNER
        assert role_of(uow, organization_id, owner.id) == MemberRole.ADMIN


def test_an_accepted_invitation_makes_the_invited_person_a_member_with_the_invited_role(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    organization_id, owner, _ = organization_with_owner(unit_of_work)
    invited = make_person(unit_of_work)
    invitation_id = invite(
        unit_of_work, organization_id, owner, invited.email.upper(), MemberRole.BILLING
    )
    accepted = accept(unit_of_work, invited, invitation_token(unit_of_work, invitation_id))
    assert (accepted["user_id"], accepted["role"]) == (invited.id, "BILLING")
    with unit_of_work("identity") as uow:
        assert role_of(uow, organization_id, invited.id) == MemberRole.BILLING
        assert uow.session.get(Invitation, invitation_id).accepted_at is not None


def test_an_invitation_for_another_email_is_forbidden(unit_of_work: UnitOfWorkFactory) -> None:
    organization_id, owner, _ = organization_with_owner(unit_of_work)
    invited = make_person(unit_of_work)
    someone_else = make_person(unit_of_work)
    token = invitation_token(
        unit_of_work, invite(unit_of_work, organization_id, owner, invited.email)
    )
    with pytest.raises(Forbidden):
        accept(unit_of_work, someone_else, token)
    with unit_of_work("identity") as uow:
        assert role_of(uow, organization_id, someone_else.id) is None


def test_an_accepted_invitation_token_is_refused(unit_of_work: UnitOfWorkFactory) -> None:
    organization_id, owner, _ = organization_with_owner(unit_of_work)
    invited = make_person(unit_of_work)
    token = invitation_token(
        unit_of_work, invite(unit_of_work, organization_id, owner, invited.email)
    )
    accept(unit_of_work, invited, token)
    with pytest.raises(ValidationFailed) as caught:
        accept(unit_of_work, invited, token)
    assert list(caught.value.fields) == ["token"]


def test_a_revoked_invitation_token_is_refused(unit_of_work: UnitOfWorkFactory) -> None:
    organization_id, owner, _ = organization_with_owner(unit_of_work)
    invited = make_person(unit_of_work)
    invitation_id = invite(unit_of_work, organization_id, owner, invited.email)
    token = invitation_token(unit_of_work, invitation_id)
    with as_user(owner, organization_id, MemberRole.OWNER), unit_of_work("identity") as uow:
        members.revoke_invitation(uow, organization_id, invitation_id)
    with pytest.raises(ValidationFailed) as caught:
        accept(unit_of_work, invited, token)
    assert list(caught.value.fields) == ["token"]
    with unit_of_work("identity") as uow:
        assert role_of(uow, organization_id, invited.id) is None


def test_inviting_an_existing_member_is_a_conflict(unit_of_work: UnitOfWorkFactory) -> None:
    organization_id, owner, _ = organization_with_owner(unit_of_work)
    member, _ = add_member(unit_of_work, organization_id, MemberRole.MEMBER)
    with pytest.raises(Conflict) as caught:
        invite(unit_of_work, organization_id, owner, member.email)
    assert list(caught.value.fields) == ["email"]
    with unit_of_work("identity") as uow:
        assert (
            uow.session.scalars(
                select(OrganizationMember).where(OrganizationMember.user_id == member.id)
            )
            .one()
            .role
            == MemberRole.MEMBER
        )


@pytest.mark.parametrize(
    "operation",
    [
        lambda uow, org: members.invite(uow, org, {"email": "someone@example.co.zw"}),
        lambda uow, org: members.list_members(uow, org, {}),
        lambda uow, org: members.list_invitations(uow, org, {}),
        lambda uow, org: members.change_role(uow, org, cuid(), {"role": "ADMIN"}),
        lambda uow, org: members.remove_member(uow, org, cuid()),
        lambda uow, org: members.transfer_ownership(uow, org, {"member_id": cuid()}),
        lambda uow, org: members.revoke_invitation(uow, org, cuid()),
    ],
    ids=["invite", "list", "invitations", "role", "remove", "transfer", "revoke"],
)
def test_staff_acting_on_an_unknown_organization_get_a_404_naming_it(
    unit_of_work: UnitOfWorkFactory, operation: Callable[[UnitOfWork, str], object]
) -> None:
    staff = make_person(unit_of_work, is_staff=True)
    made_up = cuid()
    with (
        as_user(staff, made_up, is_staff=True),
        pytest.raises(NotFound) as caught,
        unit_of_work("identity") as uow,
    ):
        operation(uow, made_up)
    assert caught.value.fields == {"organization_id": ["not found"]}
    assert made_up in caught.value.message
    with unit_of_work("identity") as uow:
        invited = uow.session.scalar(
            select(Invitation).where(Invitation.organization_id == made_up)
        )
    assert invited is None


def test_audit_rows_name_the_organization_even_when_the_caller_context_does_not(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    """Creating an organization and accepting an invitation are signed-in acts outside any
    organization's context; their audit rows still belong to the organization's trail."""
    organization_id, owner, _ = organization_with_owner(unit_of_work)
    invited = make_person(unit_of_work)
    invitation_id = invite(unit_of_work, organization_id, owner, invited.email)
    accepted = accept(unit_of_work, invited, invitation_token(unit_of_work, invitation_id))
    with unit_of_work("identity") as uow:
        audit = uow.tables.audit_log
        organization_of = dict(
            uow.session.execute(
                select(audit.action, audit.organization_id).where(
                    audit.entity_id.in_([organization_id, accepted["id"], invitation_id])
                )
            ).all()
        )
    assert organization_of == {
        "organization.created": organization_id,
        "invitation.created": organization_id,
        "member.added": organization_id,
    }
