"""Whom other services may write to: a staff user to assign a ticket to (staff and the
suite ask), and the addresses of given users (the suite only)."""

from __future__ import annotations

import pytest

from services.identity import staff, users
from services.identity.models import User
from services.identity.tests.helpers import (
    UnitOfWorkFactory,
    as_system,
    as_user,
    make_organization,
    make_person,
)
from shared.authorization import MemberRole
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
