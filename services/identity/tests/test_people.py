"""People: a user changes their own name and image; staff disable a user (every session
ends at once, sign-in is refused after the right password) and enable them again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from services.identity import api_keys, directory, sessions, staff, users
from services.identity.models import Session, User
from services.identity.tests.helpers import (
    Person,
    UnitOfWorkFactory,
    as_system,
    as_user,
    attempt_sign_in,
    audit_actions,
    events,
    make_organization,
    make_person,
    sign_in,
)
from shared.authorization import MemberRole
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from shared.ids import cuid
from shared.tokens import secret_hash

IMAGE = "https://images.example.co.zw/people/rudo.png"


def stored_user(unit_of_work: UnitOfWorkFactory, person: Person) -> User:
    with unit_of_work("identity") as uow:
        user = uow.session.get(User, person.id)
        assert user is not None
        uow.session.expunge(user)
        return user


def session_count(unit_of_work: UnitOfWorkFactory, person: Person) -> int:
    with unit_of_work("identity") as uow:
        return uow.session.scalar(select(func.count()).where(Session.user_id == person.id))


def audit_rows(unit_of_work: UnitOfWorkFactory, entity_id: str, action: str) -> list[dict]:
    with unit_of_work("identity") as uow:
        audit = uow.tables.audit_log
        rows = uow.session.scalars(
            select(audit)
            .where(audit.entity_id == entity_id, audit.action == action)
            .order_by(audit.seq)
        ).all()
        return [
            {
                "actor_id": row.actor_id,
                "organization_id": row.organization_id,
                **(row.metadata_ or {}),
            }
            for row in rows
        ]


# --- update_me ------------------------------------------------------------------------------


def test_a_user_sets_and_clears_their_name_and_image(unit_of_work: UnitOfWorkFactory) -> None:
    person = make_person(unit_of_work)
    with as_user(person), unit_of_work("identity") as uow:
        me = users.update_me(uow, {"name": "Rudo Moyo", "image": IMAGE})
    assert (me["id"], me["name"], me["image"]) == (person.id, "Rudo Moyo", IMAGE)
    assert me["organizations"] == []
    with as_user(person), unit_of_work("identity") as uow:
        me = users.update_me(uow, {"image": None})
    assert (me["name"], me["image"]) == ("Rudo Moyo", None)
    with as_user(person), unit_of_work("identity") as uow:
        users.update_me(uow, {"name": None})
    stored = stored_user(unit_of_work, person)
    assert (stored.name, stored.image) == (None, None)
    assert [row["fields"] for row in audit_rows(unit_of_work, person.id, "user.updated")] == [
        ["image", "name"],
        ["image"],
        ["name"],
    ]


def test_nothing_to_change_changes_nothing_and_audits_nothing(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work)
    with as_user(person), unit_of_work("identity") as uow:
        users.update_me(uow, {"name": "Same"})
    for data in ({}, {"name": "Same"}):
        with as_user(person), unit_of_work("identity") as uow:
            assert users.update_me(uow, data)["name"] == "Same"
    assert len(audit_rows(unit_of_work, person.id, "user.updated")) == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": 7}, "name"),
        ({"image": "http://images.example.co.zw/a.png"}, "image"),
        ({"image": "javascript:alert(1)"}, "image"),
        ({"image": "/relative/a.png"}, "image"),
        ({"image": "https://images.example.co.zw/" + "a" * 2048}, "image"),
        ({"image": ""}, "image"),
        ({"email": "new@example.co.zw"}, "email"),
        ({"is_admin": True}, "is_admin"),
    ],
)
def test_bad_or_unknown_fields_are_refused_naming_them(
    unit_of_work: UnitOfWorkFactory, data: dict, field: str
) -> None:
    person = make_person(unit_of_work)
    with (
        as_user(person),
        pytest.raises(ValidationFailed) as refused,
        unit_of_work("identity") as uow,
    ):
        users.update_me(uow, data)
    assert list(refused.value.fields) == [field]
    stored = stored_user(unit_of_work, person)
    assert (stored.name, stored.image, stored.is_admin) == (None, None, False)


def test_an_image_url_of_2048_characters_is_accepted(unit_of_work: UnitOfWorkFactory) -> None:
    person = make_person(unit_of_work)
    base = "https://images.example.co.zw/"
    image = base + "a" * (2048 - len(base))
    with as_user(person), unit_of_work("identity") as uow:
        assert users.update_me(uow, {"image": image})["image"] == image


def test_only_a_signed_in_person_updates_themselves(unit_of_work: UnitOfWorkFactory) -> None:
    with as_system(), pytest.raises(Forbidden), unit_of_work("identity") as uow:
        users.update_me(uow, {"name": "The suite"})


# --- disable_user / enable_user -------------------------------------------------------------


def disable(unit_of_work: UnitOfWorkFactory, staff_member: Person, person: Person) -> dict:
    with as_user(staff_member, is_staff=True), unit_of_work("identity") as uow:
        return staff.disable_user(uow, person.id)


def enable(unit_of_work: UnitOfWorkFactory, staff_member: Person, person: Person) -> dict:
    with as_user(staff_member, is_staff=True), unit_of_work("identity") as uow:
        return staff.enable_user(uow, person.id)


def authenticate(unit_of_work: UnitOfWorkFactory, token: str) -> dict:
    with unit_of_work("identity") as uow:
        return sessions.authenticate_session(uow, token)


def test_disabling_ends_every_session_at_once(unit_of_work: UnitOfWorkFactory) -> None:
    agent = make_person(unit_of_work, is_staff=True)
    person = make_person(unit_of_work)
    tokens = [sign_in(unit_of_work, person)["token"] for _ in range(2)]
    other = make_person(unit_of_work)
    others_token = sign_in(unit_of_work, other)["token"]

    answer = disable(unit_of_work, agent, person)

    assert answer["id"] == person.id
    assert answer["disabled_at"] is not None
    assert session_count(unit_of_work, person) == 0
    for token in tokens:
        with pytest.raises(Unauthorized):
            authenticate(unit_of_work, token)
    assert authenticate(unit_of_work, others_token)["user_id"] == other.id
    assert audit_rows(unit_of_work, person.id, "user.disabled") == [
        {"actor_id": agent.id, "organization_id": None, "sessions_ended": 2}
    ]
    with unit_of_work("identity") as uow:
        assert events(uow, "user_id", person.id)[-1] == "user.disabled"


def test_a_disabled_user_is_refused_only_after_the_right_password(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    agent = make_person(unit_of_work, is_staff=True)
    person = make_person(unit_of_work)
    disable(unit_of_work, agent, person)

    wrong = attempt_sign_in(unit_of_work, person.email, "not the password")
    right = attempt_sign_in(unit_of_work, person.email, person.password)

    assert isinstance(wrong.error, Unauthorized)
    assert isinstance(right.error, Forbidden)
    assert right.error.message == "account disabled"
    assert right.error.fields == {"email": ["account disabled"]}
    assert session_count(unit_of_work, person) == 0
    with unit_of_work("identity") as uow:
        assert audit_actions(uow, person.id)[-2:] == [
            "session.sign_in_failed",
            "session.sign_in_refused",
        ]


def test_a_session_that_outlives_the_disabling_is_refused(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    """A sign-in racing the disabling may commit its session after the sessions were
    deleted: authenticate_session refuses it anyway."""
    agent = make_person(unit_of_work, is_staff=True)
    person = make_person(unit_of_work)
    disable(unit_of_work, agent, person)
    token = "late-session-token"
    with unit_of_work("identity") as uow:
        uow.session.add(
            Session(
                user_id=person.id,
                token_hash=secret_hash(token),
                expires_at=utcnow() + timedelta(days=1),
            )
        )
    with pytest.raises(Unauthorized):
        authenticate(unit_of_work, token)


def test_enabling_lets_the_user_sign_in_again(unit_of_work: UnitOfWorkFactory) -> None:
    agent = make_person(unit_of_work, is_staff=True)
    person = make_person(unit_of_work)
    disable(unit_of_work, agent, person)

    answer = enable(unit_of_work, agent, person)

    assert answer["disabled_at"] is None
    signed_in = sign_in(unit_of_work, person)
    assert authenticate(unit_of_work, signed_in["token"])["user_id"] == person.id
    [row] = audit_rows(unit_of_work, person.id, "user.enabled")
    assert (row["actor_id"], row["organization_id"]) == (agent.id, None)
    with unit_of_work("identity") as uow:
        assert events(uow, "user_id", person.id)[-2:] == ["user.disabled", "user.enabled"]


def test_disabling_twice_or_enabling_an_enabled_user_changes_nothing(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    agent = make_person(unit_of_work, is_staff=True)
    person = make_person(unit_of_work)
    enable(unit_of_work, agent, person)
    first = disable(unit_of_work, agent, person)
    second = disable(unit_of_work, agent, person)
    assert first["disabled_at"] == second["disabled_at"]
    with unit_of_work("identity") as uow:
        assert events(uow, "user_id", person.id).count("user.disabled") == 1
        assert "user.enabled" not in events(uow, "user_id", person.id)
        assert audit_actions(uow, person.id).count("user.disabled") == 1


def test_staff_cannot_disable_themselves(unit_of_work: UnitOfWorkFactory) -> None:
    agent = make_person(unit_of_work, is_staff=True)
    with pytest.raises(Conflict) as refused:
        disable(unit_of_work, agent, agent)
    assert refused.value.fields == {"user_id": ["yourself"]}
    assert stored_user(unit_of_work, agent).disabled_at is None


def test_staff_may_disable_another_staff_member(unit_of_work: UnitOfWorkFactory) -> None:
    agent = make_person(unit_of_work, is_staff=True)
    colleague = make_person(unit_of_work, is_staff=True)
    disable(unit_of_work, agent, colleague)
    assert attempt_sign_in(unit_of_work, colleague.email, colleague.password).error is not None


@pytest.mark.parametrize("user_id", [cuid(), "x" * 33, "", "user/../1"])
@pytest.mark.parametrize("operation", [staff.disable_user, staff.enable_user])
def test_an_unknown_user_is_not_found_naming_user_id(
    unit_of_work: UnitOfWorkFactory, operation: object, user_id: str
) -> None:
    agent = make_person(unit_of_work, is_staff=True)
    with (
        as_user(agent, is_staff=True),
        pytest.raises(NotFound) as refused,
        unit_of_work("identity") as uow,
    ):
        operation(uow, user_id)  # type: ignore[operator]
    assert refused.value.fields == {"user_id": ["not found"]}


@pytest.mark.parametrize("operation", [staff.disable_user, staff.enable_user])
def test_only_staff_disable_or_enable(unit_of_work: UnitOfWorkFactory, operation: object) -> None:
    owner = make_person(unit_of_work)
    organization_id = make_organization(unit_of_work, owner)
    person = make_person(unit_of_work)
    with (
        as_user(owner, organization_id, MemberRole.OWNER),
        pytest.raises(Forbidden),
        unit_of_work("identity") as uow,
    ):
        operation(uow, person.id)  # type: ignore[operator]
    assert stored_user(unit_of_work, person).disabled_at is None


def test_the_organizations_api_keys_keep_working(unit_of_work: UnitOfWorkFactory) -> None:
    agent = make_person(unit_of_work, is_staff=True)
    owner = make_person(unit_of_work)
    organization_id = make_organization(unit_of_work, owner)
    with as_user(owner, organization_id, MemberRole.OWNER), unit_of_work("identity") as uow:
        key = api_keys.create_api_key(
            uow, organization_id, {"name": "till", "scopes": ["pos:read"]}
        )["key"]
    disable(unit_of_work, agent, owner)
    with unit_of_work("identity") as uow:
        resolved = api_keys.resolve_api_key(uow, secret_hash(key))
    assert resolved is not None and resolved["is_active"]


def test_the_staff_directory_shows_who_is_disabled(unit_of_work: UnitOfWorkFactory) -> None:
    agent = make_person(unit_of_work, is_staff=True)
    person = make_person(unit_of_work)
    disable(unit_of_work, agent, person)
    with as_user(agent, is_staff=True), unit_of_work("identity") as uow:
        [found] = directory.list_users(uow, {"q": person.email})["items"]
    assert found["disabled_at"] is not None
