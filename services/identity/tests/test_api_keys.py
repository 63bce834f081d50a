"""API keys: shown once, stored as a hash, scoped, revocable, stamped with their last use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from services.identity import api_keys
from services.identity.models import ApiKey
from services.identity.tests.helpers import (
    UnitOfWorkFactory,
    acting_as,
    add_member,
    as_system,
    as_user,
    events,
    make_organization,
    make_person,
    text_occurrences,
)
from shared import context
from shared.authorization import API_KEY_SCOPES, MemberRole
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.ids import cuid
from shared.tokens import secret_hash
from shared.unit_of_work import UnitOfWork


def organization_with_owner(unit_of_work: UnitOfWorkFactory) -> tuple[str, str]:
    owner = make_person(unit_of_work)
    return make_organization(unit_of_work, owner), owner.id


def create_key(
    unit_of_work: UnitOfWorkFactory,
    organization_id: str,
    user_id: str,
    scopes: list[str] | None = None,
    role: MemberRole = MemberRole.OWNER,
) -> dict[str, Any]:
    with as_user(user_id, organization_id, role), unit_of_work("identity") as uow:
        return api_keys.create_api_key(
            uow, organization_id, {"name": "Till 1", "scopes": scopes or ["pos:read"]}
        )


def test_the_whole_key_is_returned_once_and_only_its_hash_and_prefix_are_stored(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    organization_id, owner_id = organization_with_owner(unit_of_work)
    created = create_key(unit_of_work, organization_id, owner_id, ["pos:write", "pos:read"])
    key = created["key"]
    with as_user(owner_id, organization_id, MemberRole.OWNER), unit_of_work("identity") as uow:
        listed = api_keys.list_api_keys(uow, organization_id, {})["items"]
    with unit_of_work("identity") as uow:
        stored = uow.session.get(ApiKey, created["id"])
        columns = {c.key: getattr(stored, c.key) for c in ApiKey.__mapper__.column_attrs}
        elsewhere = text_occurrences(uow, key)
    assert (stored.key_hash, stored.key_prefix) == (secret_hash(key), key[:8])
    assert stored.scopes == ["pos:read", "pos:write"]
    assert [name for name, value in columns.items() if key in str(value)] == []
    assert elsewhere == 0
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0]


def test_scopes_outside_the_allowed_set_are_refused(unit_of_work: UnitOfWorkFactory) -> None:
    organization_id, owner_id = organization_with_owner(unit_of_work)
    assert "admin:everything" not in API_KEY_SCOPES
    with pytest.raises(ValidationFailed) as caught:
        create_key(unit_of_work, organization_id, owner_id, ["pos:read", "admin:everything"])
    assert list(caught.value.fields) == ["scopes"]
    with unit_of_work("identity") as uow:
        assert (
            uow.session.scalars(
                select(ApiKey).where(ApiKey.organization_id == organization_id)
            ).all()
            == []
        )


def test_a_key_resolves_by_its_hash_to_its_organization_and_scopes(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    organization_id, owner_id = organization_with_owner(unit_of_work)
    created = create_key(unit_of_work, organization_id, owner_id, ["usage:write", "pos:read"])
    with unit_of_work("identity") as uow:
        resolved = api_keys.resolve_api_key(uow, secret_hash(created["key"]))
        unknown = api_keys.resolve_api_key(uow, secret_hash("not a key"))
    assert resolved is not None
    assert (resolved["id"], resolved["organization_id"]) == (created["id"], organization_id)
    assert resolved["scopes"] == ["pos:read", "usage:write"]
    assert resolved["is_active"] is True
    assert unknown is None


def test_revoking_deactivates_the_key_and_announces_it_once(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    organization_id, owner_id = organization_with_owner(unit_of_work)
    created = create_key(unit_of_work, organization_id, owner_id)
    with as_user(owner_id, organization_id, MemberRole.OWNER):
        with unit_of_work("identity") as uow:
            revoked = api_keys.revoke_api_key(uow, organization_id, created["id"])
        with pytest.raises(Conflict), unit_of_work("identity") as uow:
            api_keys.revoke_api_key(uow, organization_id, created["id"])
    assert revoked["is_active"] is False
    with unit_of_work("identity") as uow:
        assert uow.session.get(ApiKey, created["id"]).is_active is False
        assert events(uow, "api_key_id", created["id"]) == ["api_key.revoked"]
        resolved = api_keys.resolve_api_key(uow, secret_hash(created["key"]))
    assert resolved is not None and resolved["is_active"] is False


def test_a_plain_member_may_not_manage_api_keys(unit_of_work: UnitOfWorkFactory) -> None:
    organization_id, _ = organization_with_owner(unit_of_work)
    member, _ = add_member(unit_of_work, organization_id, MemberRole.MEMBER)
    with pytest.raises(Forbidden):
        create_key(unit_of_work, organization_id, member.id, role=MemberRole.MEMBER)
    with (
        as_user(member, organization_id, MemberRole.MEMBER),
        pytest.raises(Forbidden),
        unit_of_work("identity") as uow,
    ):
        api_keys.list_api_keys(uow, organization_id, {})


def test_an_api_key_may_not_manage_api_keys_whatever_its_scopes(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    organization_id, owner_id = organization_with_owner(unit_of_work)
    created = create_key(unit_of_work, organization_id, owner_id, sorted(API_KEY_SCOPES))
    as_key = context.CallContext(
        actor_type=context.API_KEY,
        actor_id=created["id"],
        organization_id=organization_id,
        scopes=tuple(sorted(API_KEY_SCOPES)),
    )
    with acting_as(as_key):
        with pytest.raises(Forbidden), unit_of_work("identity") as uow:
            api_keys.create_api_key(uow, organization_id, {"name": "x", "scopes": ["pos:read"]})
        with pytest.raises(Forbidden), unit_of_work("identity") as uow:
            api_keys.revoke_api_key(uow, organization_id, created["id"])
    with unit_of_work("identity") as uow:
        assert uow.session.get(ApiKey, created["id"]).is_active is True


def test_usage_stamps_set_last_used_at_and_never_move_it_backwards(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    organization_id, owner_id = organization_with_owner(unit_of_work)
    key_id = create_key(unit_of_work, organization_id, owner_id)["id"]
    newer = datetime(2031, 5, 4, 10, 30, tzinfo=UTC)
    older = datetime(2031, 5, 4, 9, 0, tzinfo=UTC)
    with as_system():
        with unit_of_work("identity") as uow:
            assert api_keys.record_usage(uow, {key_id: newer.isoformat()}) == 1
        with unit_of_work("identity") as uow:
            first = uow.session.get(ApiKey, key_id).last_used_at
        with unit_of_work("identity") as uow:
            api_keys.record_usage(uow, {key_id: older.isoformat()})
        with unit_of_work("identity") as uow:
            after_older = uow.session.get(ApiKey, key_id).last_used_at
    assert first == newer
    assert after_older == newer


def test_usage_stamps_come_only_from_the_suite(unit_of_work: UnitOfWorkFactory) -> None:
    organization_id, owner_id = organization_with_owner(unit_of_work)
    key_id = create_key(unit_of_work, organization_id, owner_id)["id"]
    with (
        as_user(owner_id, organization_id, MemberRole.OWNER),
        pytest.raises(Forbidden),
        unit_of_work("identity") as uow,
    ):
        api_keys.record_usage(uow, {key_id: datetime(2031, 1, 1, tzinfo=UTC).isoformat()})
    with unit_of_work("identity") as uow:
        assert uow.session.get(ApiKey, key_id).last_used_at is None


@pytest.mark.parametrize(
    "operation",
    [
        lambda uow, org: api_keys.create_api_key(uow, org, {"name": "T", "scopes": ["pos:read"]}),
        lambda uow, org: api_keys.list_api_keys(uow, org, {}),
        lambda uow, org: api_keys.revoke_api_key(uow, org, cuid()),
    ],
    ids=["create", "list", "revoke"],
)
def test_staff_acting_on_an_unknown_organization_get_a_404_naming_it(
    unit_of_work: UnitOfWorkFactory, operation: Callable[[UnitOfWork, str], object]
) -> None:
    made_up = cuid()
    with (
        as_user(make_person(unit_of_work), made_up, is_staff=True),
        pytest.raises(NotFound) as caught,
        unit_of_work("identity") as uow,
    ):
        operation(uow, made_up)
    assert caught.value.fields == {"organization_id": ["not found"]}
    with unit_of_work("identity") as uow:
        assert uow.session.scalar(select(ApiKey).where(ApiKey.organization_id == made_up)) is None
