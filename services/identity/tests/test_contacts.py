"""Whom other services may write to: a staff user to assign a ticket to (staff and the
suite ask), the addresses of given users, and an organization's billing contacts (the
suite only)."""

from __future__ import annotations

import pytest

from services.identity import members, organizations, staff, users
from services.identity.models import Organization, User
from services.identity.tests.helpers import (
    UnitOfWorkFactory,
    add_member,
    as_system,
    as_user,
    make_organization,
    make_person,
)
from shared.authorization import MemberRole
from shared.clock import utcnow
from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.ids import cuid
from shared.schemas import MAX_IDS_PER_CALL

NOT_CUIDS = ["x" * 33, "c" + "0" * 32, "", "user/../1", 42, None]


def named(unit_of_work: UnitOfWorkFactory, name: str, *, is_staff: bool = False) -> str:
    person = make_person(unit_of_work, is_staff=is_staff)
    with unit_of_work("identity") as uow:
        user = uow.session.get(User, person.id)
        assert user is not None
        user.name = name
    return person.id


# --- staff_user -----------------------------------------------------------------------------


def test_staff_and_the_suite_find_a_staff_user(unit_of_work: UnitOfWorkFactory) -> None:
    agent = named(unit_of_work, "Rudo Agent", is_staff=True)
    asker = make_person(unit_of_work, is_staff=True)
    for caller in (as_user(asker, is_staff=True), as_system()):
        with caller, unit_of_work("identity") as uow:
            found = staff.staff_user(uow, agent)
        assert found["id"] == agent
        assert found["name"] == "Rudo Agent"
        assert found["email"].endswith("@example.co.zw")
        assert set(found) == {"id", "email", "name"}


def test_a_user_who_is_not_staff_is_not_found_naming_user_id(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    client = make_person(unit_of_work)
    for user_id in (client.id, cuid()):
        with (
            as_system(),
            pytest.raises(NotFound) as refused,
            unit_of_work("identity") as uow,
        ):
            staff.staff_user(uow, user_id)
        assert refused.value.fields == {"user_id": ["not found"]}


def test_a_disabled_staff_user_is_not_found(unit_of_work: UnitOfWorkFactory) -> None:
    agent = make_person(unit_of_work, is_staff=True)
    with unit_of_work("identity") as uow:
        uow.session.get(User, agent.id).disabled_at = utcnow()
    with as_system(), pytest.raises(NotFound) as refused, unit_of_work("identity") as uow:
        staff.staff_user(uow, agent.id)
    assert refused.value.fields == {"user_id": ["not found"]}


@pytest.mark.parametrize("user_id", NOT_CUIDS)
def test_a_malformed_user_id_is_not_found_naming_it(
    unit_of_work: UnitOfWorkFactory, user_id: object
) -> None:
    with as_system(), pytest.raises(NotFound) as refused, unit_of_work("identity") as uow:
        staff.staff_user(uow, user_id)  # type: ignore[arg-type]
    assert refused.value.fields == {"user_id": ["not found"]}


def test_a_member_cannot_look_up_staff(unit_of_work: UnitOfWorkFactory) -> None:
    agent = make_person(unit_of_work, is_staff=True)
    owner = make_person(unit_of_work)
    org_id = make_organization(unit_of_work, owner)
    with (
        as_user(owner, org_id, MemberRole.OWNER),
        pytest.raises(Forbidden),
        unit_of_work("identity") as uow,
    ):
        staff.staff_user(uow, agent.id)


# --- contact_addresses ----------------------------------------------------------------------


def test_the_suite_gets_the_addresses_of_users_that_exist_in_the_order_asked(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    first = named(unit_of_work, "Tendai")
    second = make_person(unit_of_work)
    gone = cuid()
    with as_system(), unit_of_work("identity") as uow:
        found = users.contact_addresses(uow, [second.id, gone, first, second.id, "user-1"])
    assert found == [
        {"id": second.id, "email": second.email, "name": None},
        {"id": first, "email": found[1]["email"], "name": "Tendai"},
    ]


def test_no_ids_no_addresses(unit_of_work: UnitOfWorkFactory) -> None:
    with as_system(), unit_of_work("identity") as uow:
        assert users.contact_addresses(uow, []) == []


def test_only_the_suite_may_ask_for_addresses(unit_of_work: UnitOfWorkFactory) -> None:
    person = make_person(unit_of_work)
    asker = make_person(unit_of_work, is_staff=True)
    for caller in (as_user(asker, is_staff=True), as_user(person)):
        with caller, pytest.raises(Forbidden), unit_of_work("identity") as uow:
            users.contact_addresses(uow, [person.id])


@pytest.mark.parametrize(
    "user_ids",
    [
        [cuid() for _ in range(MAX_IDS_PER_CALL + 1)],
        ["x" * 26],
        [""],
        [7],
        "c" + "0" * 24,
        None,
    ],
)
def test_a_list_too_long_or_not_of_ids_is_refused_naming_user_ids(
    unit_of_work: UnitOfWorkFactory, user_ids: object
) -> None:
    with as_system(), pytest.raises(ValidationFailed) as refused, unit_of_work("identity") as uow:
        users.contact_addresses(uow, user_ids)  # type: ignore[arg-type]
    assert "user_ids" in refused.value.fields


def test_a_hundred_ids_are_accepted(unit_of_work: UnitOfWorkFactory) -> None:
    person = make_person(unit_of_work)
    ids = [person.id] + [cuid() for _ in range(MAX_IDS_PER_CALL - 1)]
    with as_system(), unit_of_work("identity") as uow:
        assert [found["id"] for found in users.contact_addresses(uow, ids)] == [person.id]


# --- billing_contacts -----------------------------------------------------------------------


def test_billing_contacts_are_the_organization_and_its_owners_and_billing_members(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    owner = make_person(unit_of_work)
    organization_id = make_organization(unit_of_work, owner)
    billing, _ = add_member(unit_of_work, organization_id, MemberRole.BILLING)
    second_owner, _ = add_member(unit_of_work, organization_id, MemberRole.OWNER)
    for role in (MemberRole.ADMIN, MemberRole.MEMBER):
        add_member(unit_of_work, organization_id, role)
    with unit_of_work("identity") as uow:
        uow.session.get(User, billing.id).name = "Chipo Billing"  # type: ignore[union-attr]
        organization = uow.session.get(Organization, organization_id)
        expected_organization = {
            "id": organization_id,
            "name": organization.name,  # type: ignore[union-attr]
            "email": organization.email,  # type: ignore[union-attr]
        }

    with as_system(), unit_of_work("identity") as uow:
        contacts = members.billing_contacts(uow, organization_id)

    assert contacts["organization"] == expected_organization
    owners = sorted([owner.email, second_owner.email])
    assert contacts["people"] == [
        {"email": owners[0], "name": None, "role": "OWNER"},
        {"email": owners[1], "name": None, "role": "OWNER"},
        {"email": billing.email, "name": "Chipo Billing", "role": "BILLING"},
    ]


def test_a_disabled_member_gets_no_billing_mail(unit_of_work: UnitOfWorkFactory) -> None:
    owner = make_person(unit_of_work)
    organization_id = make_organization(unit_of_work, owner)
    billing, _ = add_member(unit_of_work, organization_id, MemberRole.BILLING)
    agent = make_person(unit_of_work, is_staff=True)
    with as_user(agent, is_staff=True), unit_of_work("identity") as uow:
        staff.disable_user(uow, billing.id)
    with as_system(), unit_of_work("identity") as uow:
        people = members.billing_contacts(uow, organization_id)["people"]
    assert [person["email"] for person in people] == [owner.email]


@pytest.mark.parametrize("organization_id", [cuid(), "x" * 33, ""])
def test_billing_contacts_of_an_unknown_organization_are_not_found_naming_it(
    unit_of_work: UnitOfWorkFactory, organization_id: str
) -> None:
    with as_system(), pytest.raises(NotFound) as refused, unit_of_work("identity") as uow:
        members.billing_contacts(uow, organization_id)
    assert refused.value.fields == {"organization_id": ["not found"]}


def test_a_deleted_organizations_billing_contacts_are_those_it_had_when_deleted(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    """Billing sends the final invoice after the deletion: it still has somewhere to go."""
    owner = make_person(unit_of_work)
    organization_id = make_organization(unit_of_work, owner)
    with as_system(), unit_of_work("identity") as uow:
        before = members.billing_contacts(uow, organization_id)
    with as_user(owner, organization_id, MemberRole.OWNER), unit_of_work("identity") as uow:
        organizations.delete_organization(uow, organization_id)

    with as_system(), unit_of_work("identity") as uow:
        after = members.billing_contacts(uow, organization_id)
        assert uow.session.get(Organization, organization_id) is None

    assert after == before
    assert [person["email"] for person in after["people"]] == [owner.email]


def test_only_the_suite_asks_for_billing_contacts(unit_of_work: UnitOfWorkFactory) -> None:
    owner = make_person(unit_of_work)
    organization_id = make_organization(unit_of_work, owner)
    agent = make_person(unit_of_work, is_staff=True)
    for caller in (
        as_user(agent, is_staff=True),
        as_user(owner, organization_id, MemberRole.OWNER),
    ):
        with caller, pytest.raises(Forbidden), unit_of_work("identity") as uow:
            members.billing_contacts(uow, organization_id)
