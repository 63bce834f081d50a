"""Creating and reading organizations, against the run's real database."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from services.identity import organizations, staff
from services.identity.models import Account, Organization, User
from services.identity.passwords import verify_password
from shared.errors import Conflict, NotFound, ValidationFailed


def test_create_organization_writes_row_audit_and_event(unit_of_work) -> None:
    with unit_of_work("identity") as uow:
        created = organizations.create_organization(
            uow, {"name": "Zuva Petroleum (Pvt) Ltd", "email": "accounts@zuva.co.zw"}
        )
    assert created["slug"].startswith("zuva-petroleum-pvt-ltd")
    assert created["country"] == "Zimbabwe"
    with unit_of_work("identity") as uow:
        tables = uow.tables
        assert uow.session.get(Organization, created["id"]).email == "accounts@zuva.co.zw"
        actions = uow.session.scalars(
            select(tables.audit_log.action).where(tables.audit_log.entity_id == created["id"])
        ).all()
        events = uow.session.scalars(
            select(tables.outbox_message.event_type).where(
                tables.outbox_message.payload["organization_id"].as_string() == created["id"]
            )
        ).all()
    assert actions == ["organization.created"]
    assert events == ["organization.created"]


def test_derived_slugs_never_collide(unit_of_work) -> None:
    name = f"Same Name {uuid.uuid4().hex[:6]}"
    with unit_of_work("identity") as uow:
        first = organizations.create_organization(uow, {"name": name, "email": "a@x.co"})
    with unit_of_work("identity") as uow:
        second = organizations.create_organization(uow, {"name": name, "email": "b@x.co"})
    assert first["slug"] != second["slug"]
    assert second["slug"].startswith(first["slug"])


def test_a_taken_slug_asked_for_explicitly_is_a_conflict(unit_of_work) -> None:
    slug = f"taken-{uuid.uuid4().hex[:6]}"
    with unit_of_work("identity") as uow:
        organizations.create_organization(uow, {"name": "A", "email": "a@x.co", "slug": slug})
    with pytest.raises(Conflict) as caught, unit_of_work("identity") as uow:
        organizations.create_organization(uow, {"name": "B", "email": "b@x.co", "slug": slug})
    assert caught.value.fields == {"slug": ["already taken"]}


def test_invalid_input_writes_nothing(unit_of_work) -> None:
    with unit_of_work("identity") as uow:
        before = uow.session.scalar(select(func.count()).select_from(Organization))
    with pytest.raises(ValidationFailed) as caught, unit_of_work("identity") as uow:
        organizations.create_organization(uow, {"name": "", "email": "nope", "x": 1})
    assert set(caught.value.fields) == {"name", "email", "x"}
    with unit_of_work("identity") as uow:
        assert uow.session.scalar(select(func.count()).select_from(Organization)) == before


def test_unknown_organization_is_not_found(unit_of_work) -> None:
    with pytest.raises(NotFound), unit_of_work("identity") as uow:
        organizations.get_organization(uow, "c" + "0" * 24)


def test_staff_user_is_seeded_once_with_an_argon2id_password(unit_of_work) -> None:
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
