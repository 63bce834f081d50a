"""Sign-up, emailed one-time tokens, email verification and passwords."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta

import pytest
from sqlalchemy import func, or_, select, update

from services.identity import users
from services.identity.models import Account, Session, User, Verification
from services.identity.passwords import verify_password
from services.identity.tests.helpers import (
    PASSWORD,
    Person,
    UnitOfWorkFactory,
    as_anonymous,
    as_system,
    as_user,
    events,
    make_person,
    sign_in,
    text_occurrences,
    unique_email,
)
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, ValidationFailed
from shared.tokens import secret_hash

NEW_PASSWORD = "a brand new passphrase"


def issue(unit_of_work: UnitOfWorkFactory, person: Person, purpose: str) -> str:
    with as_system(), unit_of_work("identity") as uow:
        issued = users.issue_token(uow, person.id, purpose)
    assert issued is not None
    return issued["token"]


def password_of(unit_of_work: UnitOfWorkFactory, person: Person) -> str:
    with unit_of_work("identity") as uow:
        return uow.session.scalar(select(Account.password).where(Account.user_id == person.id))


def session_ids(unit_of_work: UnitOfWorkFactory, person: Person) -> set[str]:
    with unit_of_work("identity") as uow:
        return set(uow.session.scalars(select(Session.id).where(Session.user_id == person.id)))


def test_sign_up_stores_an_argon2id_hash_and_never_the_password(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    with as_anonymous(), unit_of_work("identity") as uow:
        created = users.sign_up(uow, {"email": unique_email(), "password": PASSWORD})
    with unit_of_work("identity") as uow:
        account = uow.session.scalar(select(Account).where(Account.user_id == created["id"]))
        mentions = text_occurrences(uow, PASSWORD)
    assert "password" not in created
    assert account.password.startswith("$argon2id$")
    assert PASSWORD not in account.password
    assert verify_password(account.password, PASSWORD)
    assert mentions == 0


def test_sign_up_refuses_a_taken_email_naming_email(unit_of_work: UnitOfWorkFactory) -> None:
    person = make_person(unit_of_work)
    with (
        as_anonymous(),
        pytest.raises(Conflict) as caught,
        unit_of_work("identity") as uow,
    ):
        users.sign_up(uow, {"email": person.email.upper(), "password": PASSWORD})
    assert list(caught.value.fields) == ["email"]


def test_sign_up_emits_user_registered(unit_of_work: UnitOfWorkFactory) -> None:
    email = unique_email()
    with as_anonymous(), unit_of_work("identity") as uow:
        user_id = users.sign_up(uow, {"email": email, "password": PASSWORD, "name": "Tendai"})["id"]
    with unit_of_work("identity") as uow:
        outbox = uow.tables.outbox_message
        message = uow.session.scalar(
            select(outbox).where(outbox.payload["user_id"].as_string() == user_id)
        )
    assert message.event_type == "user.registered"
    assert (message.payload["email"], message.payload["name"]) == (email, "Tendai")


@pytest.mark.parametrize(
    ("caller", "error"),
    [
        (as_anonymous, Forbidden),
        (lambda: as_user("c" + "1" * 24), Forbidden),
        (lambda: as_user("c" + "1" * 24, is_staff=True), Forbidden),
    ],
    ids=["anonymous", "user", "staff"],
)
def test_only_the_suite_itself_may_issue_a_token(
    unit_of_work: UnitOfWorkFactory,
    caller: Callable[[], AbstractContextManager[object]],
    error: type[Exception],
) -> None:
    person = make_person(unit_of_work, verified=False)
    with caller(), pytest.raises(error), unit_of_work("identity") as uow:
        users.issue_token(uow, person.id, users.EMAIL_VERIFICATION)
    with unit_of_work("identity") as uow:
        assert (
            uow.session.scalar(
                select(func.count()).where(
                    Verification.identifier == f"{users.EMAIL_VERIFICATION}:{person.id}"
                )
            )
            == 0
        )


def test_an_issued_token_is_stored_only_as_its_sha256(unit_of_work: UnitOfWorkFactory) -> None:
    person = make_person(unit_of_work, verified=False)
    token = issue(unit_of_work, person, users.EMAIL_VERIFICATION)
    with unit_of_work("identity") as uow:
        stored = uow.session.scalars(
            select(Verification.value).where(
                Verification.identifier == f"{users.EMAIL_VERIFICATION}:{person.id}"
            )
        ).all()
        plain_in_verifications = uow.session.scalar(
            select(func.count()).where(
                or_(Verification.value.contains(token), Verification.identifier.contains(token))
            )
        )
        plain_elsewhere = text_occurrences(uow, token)
    assert stored == [secret_hash(token)]
    assert (plain_in_verifications, plain_elsewhere) == (0, 0)


def test_verify_email_sets_email_verified_and_the_token_works_once(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work, verified=False)
    token = issue(unit_of_work, person, users.EMAIL_VERIFICATION)
    with as_anonymous():
        with unit_of_work("identity") as uow:
            verified = users.verify_email(uow, {"token": token})
        with pytest.raises(ValidationFailed) as caught, unit_of_work("identity") as uow:
            users.verify_email(uow, {"token": token})
    assert verified["id"] == person.id
    assert verified["email_verified"] is not None
    assert list(caught.value.fields) == ["token"]
    with unit_of_work("identity") as uow:
        assert uow.session.get(User, person.id).email_verified is not None


def test_an_expired_token_is_refused(unit_of_work: UnitOfWorkFactory) -> None:
    person = make_person(unit_of_work, verified=False)
    token = issue(unit_of_work, person, users.EMAIL_VERIFICATION)
    with unit_of_work("identity") as uow:
        uow.session.execute(
            update(Verification)
            .where(Verification.value == secret_hash(token))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    with (
        as_anonymous(),
        pytest.raises(ValidationFailed) as caught,
        unit_of_work("identity") as uow,
    ):
        users.verify_email(uow, {"token": token})
    assert list(caught.value.fields) == ["token"]
    with unit_of_work("identity") as uow:
        assert uow.session.get(User, person.id).email_verified is None


def test_issuing_a_new_token_makes_the_previous_one_stop_working(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work, verified=False)
    first = issue(unit_of_work, person, users.EMAIL_VERIFICATION)
    second = issue(unit_of_work, person, users.EMAIL_VERIFICATION)
    with as_anonymous():
        with pytest.raises(ValidationFailed), unit_of_work("identity") as uow:
            users.verify_email(uow, {"token": first})
        with unit_of_work("identity") as uow:
            assert users.verify_email(uow, {"token": second})["id"] == person.id


def test_a_token_for_one_purpose_is_refused_for_another(unit_of_work: UnitOfWorkFactory) -> None:
    person = make_person(unit_of_work, verified=False)
    token = issue(unit_of_work, person, users.PASSWORD_RESET)
    with as_anonymous(), pytest.raises(ValidationFailed), unit_of_work("identity") as uow:
        users.verify_email(uow, {"token": token})


def test_a_password_reset_is_announced_for_a_known_email_only(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work)
    unknown = unique_email("nobody")
    with as_anonymous():
        with unit_of_work("identity") as uow:
            assert users.request_password_reset(uow, {"email": person.email.upper()}) is None
        with unit_of_work("identity") as uow:
            assert users.request_password_reset(uow, {"email": unknown}) is None
    with unit_of_work("identity") as uow:
        for_person = events(uow, "user_id", person.id)
        for_unknown = events(uow, "email", unknown)
    assert for_person == ["user.registered", "password_reset.requested"]
    assert for_unknown == []


def test_reset_password_changes_the_password_and_ends_every_session(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work)
    sign_in(unit_of_work, person)
    sign_in(unit_of_work, person)
    assert len(session_ids(unit_of_work, person)) == 2
    token = issue(unit_of_work, person, users.PASSWORD_RESET)
    with as_anonymous(), unit_of_work("identity") as uow:
        users.reset_password(uow, {"token": token, "password": NEW_PASSWORD})
    stored = password_of(unit_of_work, person)
    assert verify_password(stored, NEW_PASSWORD)
    assert not verify_password(stored, PASSWORD)
    assert session_ids(unit_of_work, person) == set()


def test_change_password_refuses_a_wrong_current_password(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work)
    current = sign_in(unit_of_work, person)
    with (
        as_user(person, session_id=current["session_id"]),
        pytest.raises(ValidationFailed) as caught,
        unit_of_work("identity") as uow,
    ):
        users.change_password(
            uow, {"current_password": "not my password", "new_password": NEW_PASSWORD}
        )
    assert list(caught.value.fields) == ["current_password"]
    assert verify_password(password_of(unit_of_work, person), PASSWORD)


def test_change_password_ends_the_other_sessions_and_keeps_the_current_one(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work)
    current = sign_in(unit_of_work, person)
    sign_in(unit_of_work, person)
    sign_in(unit_of_work, person)
    with as_user(person, session_id=current["session_id"]), unit_of_work("identity") as uow:
        users.change_password(uow, {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert session_ids(unit_of_work, person) == {current["session_id"]}
    assert verify_password(password_of(unit_of_work, person), NEW_PASSWORD)
