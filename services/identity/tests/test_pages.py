"""Lists page in their query (`shared.pagination`): the one envelope, pages that neither
overlap nor skip, and page sizes outside 1..200 refused before any query."""

from __future__ import annotations

import pytest

from services.identity import api_keys
from services.identity.tests.helpers import (
    UnitOfWorkFactory,
    as_user,
    make_organization,
    make_person,
)
from shared.authorization import MemberRole
from shared.errors import ValidationFailed


def test_pages_cover_the_list_once_in_order(unit_of_work: UnitOfWorkFactory) -> None:
    owner = make_person(unit_of_work)
    organization_id = make_organization(unit_of_work, owner)
    created = []
    with as_user(owner.id, organization_id, MemberRole.OWNER):
        for name in ("Till 1", "Till 2", "Till 3"):
            with unit_of_work("identity") as uow:
                body = {"name": name, "scopes": ["pos:read"]}
                created.append(api_keys.create_api_key(uow, organization_id, body)["id"])
        with unit_of_work("identity") as uow:
            first = api_keys.list_api_keys(uow, organization_id, {"limit": "2"})
            rest = api_keys.list_api_keys(uow, organization_id, {"limit": 2, "offset": 2})
            everything = api_keys.list_api_keys(uow, organization_id, {})
    assert {k: first[k] for k in ("total", "limit", "offset")} == {
        "total": 3,
        "limit": 2,
        "offset": 0,
    }
    assert (rest["total"], rest["offset"]) == (3, 2)
    assert [k["id"] for k in first["items"] + rest["items"]] == created
    assert [k["id"] for k in everything["items"]] == created


@pytest.mark.parametrize(
    ("query", "field"),
    [({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"offset": -1}, "offset")],
)
def test_a_page_outside_the_bounds_is_refused(
    unit_of_work: UnitOfWorkFactory, query: dict[str, int], field: str
) -> None:
    owner = make_person(unit_of_work)
    organization_id = make_organization(unit_of_work, owner)
    with (
        as_user(owner.id, organization_id, MemberRole.OWNER),
        pytest.raises(ValidationFailed) as refused,
        unit_of_work("identity") as uow,
    ):
        api_keys.list_api_keys(uow, organization_id, query)
    assert list(refused.value.fields) == [field]
