"""Creating, reading, updating and deleting organizations, against the run's real database."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from sqlalchemy import func, select

from services.identity import api_keys, organizations, staff
from services.identity.models import (
    Account,
    ApiKey,
    Organization,
    OrganizationMember,
    User,
)
from services.identity.passwords import verify_password
from services.identity.tests.helpers import (
    UnitOfWorkFactory,
    add_member,
    as_anonymous,
    as_system,
    as_user,
    audit_actions,
    events,
    make_organization,
    make_person,
)
from shared.authorization import MemberRole
from shared.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from shared.tokens import secret_hash


def test_create_organization_writes_row_audit_and_event(unit_of_work: UnitOfWorkFactory) -> None:
    creator = make_person(unit_of_work)
    with as_user(creator), unit_of_work("identity") as uow:
        created = organizations.create_organization(
            uow, {"name": "Zuva Petroleum (Pvt) Ltd", "email": "accounts@zuva.co.zw"}
        )
    assert created["slug"].startswith("zuva-petroleum-pvt-ltd")
    assert created["country"] == "Zimbabwe"
    with unit_of_work("identity") as uow:
        assert uow.session.get(Organization, created["id"]).email == "accounts@zuva.co.zw"
        actions = audit_actions(uow, created["id"])
        emitted = events(uow, "organization_id", created["id"])
    assert actions == ["organization.created"]
    assert emitted == ["organization.created"]


def test_the_creator_becomes_the_only_owner(unit_of_work: UnitOfWorkFactory) -> None:
    creator = make_person(unit_of_work)
    organization_id = make_organization(unit_of_work, creator)
    with unit_of_work("identity") as uow:
        members = uow.session.scalars(
            select(OrganizationMember).where(OrganizationMember.organization_id == organization_id)
        ).all()
    assert [(m.user_id, m.role) for m in members] == [(creator.id, MemberRole.OWNER)]


@pytest.mark.parametrize(
    ("caller", "error"), [(as_anonymous, Unauthorized), (as_system, Forbidden)]
)
def test_only_a_signed_in_person_can_create_an_organization(
    unit_of_work: UnitOfWorkFactory,
    caller: Callable[[], AbstractContextManager[object]],
    error: type[Exception],
) -> None:
    with caller(), pytest.raises(error), unit_of_work("identity") as uow:
        organizations.create_organization(uow, {"name": "A", "email": "a@x.co"})


def test_derived_slugs_never_collide(unit_of_work: UnitOfWorkFactory) -> None:
    creator = make_person(unit_of_work)
    name = f"Same Name {uuid.uuid4().hex[:6]}"
    with as_user(creator):
        with unit_of_work("identity") as uow:
            first = organizations.create_organization(uow, {"name": name, "email": "a@x.co"})
        with unit_of_work("identity") as uow:
            second = organizations.create_organization(uow, {"name": name, "email": "b@x.co"})
    assert first["slug"] != second["slug"]
    assert second["slug"].startswith(first["slug"])


def test_a_taken_slug_asked_for_explicitly_is_a_conflict(unit_of_work: UnitOfWorkFactory) -> None:
    creator = make_person(unit_of_work)
    slug = f"taken-{uuid.uuid4().hex[:6]}"
    with as_user(creator):
        with unit_of_work("identity") as uow:
            organizations.create_organization(uow, {"name": "A", "email": "a@x.co", "slug": slug})
        with pytest.raises(Conflict) as caught, unit_of_work("identity") as uow:
            organizations.create_organization(uow, {"name": "B", "email": "b@x.co", "slug": slug})
    assert caught.value.fields == {"slug": ["already taken"]}


def test_invalid_input_writes_nothing(unit_of_work: UnitOfWorkFactory) -> None:
    creator = make_person(unit_of_work)
    with unit_of_work("identity") as uow:
        before = uow.session.scalar(select(func.count()).select_from(Organization))
    with (
        as_user(creator),
        pytest.raises(ValidationFailed) as caught,
        unit_of_work("identity") as uow,
    ):
        organizations.create_organization(uow, {"name": "", "email": "nope", "x": 1})
    assert set(caught.value.fields) == {"name", "email", "x"}
    with unit_of_work("identity") as uow:
        assert uow.session.scalar(select(func.count()).select_from(Organization)) == before


def test_unknown_organization_is_not_found(unit_of_work: UnitOfWorkFactory) -> None:
    with pytest.raises(NotFound), unit_of_work("identity") as uow:
        organizations.get_organization(uow, "c" + "0" * 24)


def test_an_admin_updates_the_organization_and_it_is_audited(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    organization_id = make_organization(unit_of_work, make_person(unit_of_work))
    admin, _ = add_member(unit_of_work, organization_id, MemberRole.ADMIN)
    with as_user(admin, organization_id, MemberRole.ADMIN), unit_of_work("identity") as uow:
        updated = organizations.update_organization(
            uow, organization_id, {"name": "Renamed", "city": "Harare"}
        )
    assert (updated["name"], updated["city"]) == ("Renamed", "Harare")
    with unit_of_work("identity") as uow:
        stored = uow.session.get(Organization, organization_id)
        audit = uow.tables.audit_log
        row = uow.session.scalar(
            select(audit).where(
                audit.entity_id == organization_id, audit.action == "organization.updated"
            )
        )
        emitted = events(uow, "organization_id", organization_id)
    assert (stored.name, stored.city) == ("Renamed", "Harare")
    assert (row.actor_id, row.metadata_) == (admin.id, {"fields": ["city", "name"]})
    assert "organization.updated" in emitted


def test_an_admin_may_not_delete_the_organization(unit_of_work: UnitOfWorkFactory) -> None:
    organization_id = make_organization(unit_of_work, make_person(unit_of_work))
    admin, _ = add_member(unit_of_work, organization_id, MemberRole.ADMIN)
    with (
        as_user(admin, organization_id, MemberRole.ADMIN),
        pytest.raises(Forbidden),
        unit_of_work("identity") as uow,
    ):
        organizations.delete_organization(uow, organization_id)
    with unit_of_work("identity") as uow:
        assert uow.session.get(Organization, organization_id) is not None


def test_the_owner_deletes_the_organization_its_members_and_announces_key_revocations(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    owner = make_person(unit_of_work)
    organization_id = make_organization(unit_of_work, owner)
    add_member(unit_of_work, organization_id, MemberRole.MEMBER)
    with as_user(owner, organization_id, MemberRole.OWNER):
        with unit_of_work("identity") as uow:
            key_ids = [
                api_keys.create_api_key(uow, organization_id, {"name": n, "scopes": ["pos:read"]})[
                    "id"
                ]
                for n in ("till 1", "till 2", "till 3")
            ]
        with unit_of_work("identity") as uow:
            api_keys.revoke_api_key(uow, organization_id, key_ids[2])
        with unit_of_work("identity") as uow:
            organizations.delete_organization(uow, organization_id)
    with unit_of_work("identity") as uow:
        assert uow.session.get(Organization, organization_id) is None
        assert (
            uow.session.scalar(
                select(func.count()).where(OrganizationMember.organization_id == organization_id)
            )
            == 0
        )
        assert (
            uow.session.scalar(
                select(func.count()).where(ApiKey.organization_id == organization_id)
            )
            == 0
        )
        emitted = events(uow, "organization_id", organization_id)
        revoked_per_key = {key_id: events(uow, "api_key_id", key_id) for key_id in key_ids}
        owner_still_exists = uow.session.get(User, owner.id) is not None
    assert emitted[-1] == "organization.deleted"
    # The revoked key was announced when it was revoked, the two active ones on deletion.
    assert revoked_per_key == {key_id: ["api_key.revoked"] for key_id in key_ids}
    assert owner_still_exists


def test_a_deleted_organizations_api_keys_resolve_to_nothing_at_once(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    """The gateway resolves a key it has not cached through identity; its cached keys go on
    the api_key.revoked broadcast emitted with the deletion (test above)."""
    owner = make_person(unit_of_work)
    organization_id = make_organization(unit_of_work, owner)
    with as_user(owner, organization_id, MemberRole.OWNER):
        with unit_of_work("identity") as uow:
            key = api_keys.create_api_key(
                uow, organization_id, {"name": "till", "scopes": ["pos:read"]}
            )["key"]
        with unit_of_work("identity") as uow:
            organizations.delete_organization(uow, organization_id)
    with unit_of_work("identity") as uow:
        assert api_keys.resolve_api_key(uow, secret_hash(key)) is None


def test_staff_user_is_seeded_once_with_an_argon2id_password(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    email = f"Staff-{uuid.uuid4().hex[:6]}@CVT.co.zw"
    with unit_of_work("identity") as uow:
        user, created = staff.ensure_staff_user(uow, email, "Staff", "correct horse")
        user_id = user.id
    with unit_of_work("identity") as uow:
        again, created_again = staff.ensure_staff_user(uow, email, "Staff", "another password")
    assert (created, created_again) == (True, False)
    assert again.id == user_id
    with unit_of_work("identity") as uow:
        stored = uow.session.get(User, user_id)
        account = uow.session.scalar(select(Account).where(Account.user_id == user_id))
    assert stored.is_admin and stored.email == email.lower()
    assert account.provider_id == "credential"
    assert account.password.startswith("$argon2id$")
    assert "correct horse" not in account.password
    assert verify_password(account.password, "correct horse")
    assert not verify_password(account.password, "another password")
