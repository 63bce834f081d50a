"""Staff views across every organization."""

from __future__ import annotations

import pytest

from services.identity import directory, organizations
from services.identity.tests.helpers import (
    UnitOfWorkFactory,
    as_user,
    make_organization,
    make_person,
    unique,
    unique_email,
)
from shared.errors import Forbidden


def test_a_person_who_is_not_staff_cannot_list_organizations(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work)
    make_organization(unit_of_work, person)
    with as_user(person), pytest.raises(Forbidden), unit_of_work("identity") as uow:
        directory.list_organizations(uow, {})


def test_staff_search_organizations_and_see_the_total(unit_of_work: UnitOfWorkFactory) -> None:
    creator = make_person(unit_of_work)
    staff = make_person(unit_of_work, is_staff=True)
    marker = unique("Marker")
    with as_user(creator):
        for name in (f"{marker} Fuels", f"{marker} Foods", f"{marker} Farms"):
            with unit_of_work("identity") as uow:
                organizations.create_organization(uow, {"name": name, "email": unique_email()})
    unrelated = make_organization(unit_of_work, creator)
    with as_user(staff, is_staff=True), unit_of_work("identity") as uow:
        found = directory.list_organizations(uow, {"q": marker.upper(), "limit": 2})
        everything = directory.list_organizations(uow, {"limit": 200})
    assert found["total"] == 3
    assert len(found["items"]) == 2
    assert [item["name"] for item in found["items"]] == [f"{marker} Farms", f"{marker} Foods"]
    assert everything["total"] >= 4
    assert unrelated in {item["id"] for item in everything["items"]}
