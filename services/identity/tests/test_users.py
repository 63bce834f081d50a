"""Sign-up, emailed one-time tokens, email verification and passwords."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta

import pytest
from sqlalchemy import func, or_, select, update

from services.identity import throttle, users
from services.identity.models import Account, Session, SignInThrottle, User, Verification
from services.identity.passwords import verify_password
from services.identity.tests.helpers import (
    PASSWORD,
    Person,
    UnitOfWorkFactory,
    acting_as,
    as_anonymous,
    as_system,
    as_user,
    events,
    make_person,
    sign_in,
    text_occurrences,
    unique_email,
)
from shared import config, context
from shared.clock import utcnow
from shared.errors import Forbidden, RateLimited, ValidationFailed
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


def sign_up(unit_of_work: UnitOfWorkFactory, email: str, ip: str | None = None) -> None:
    caller = context.CallContext(actor_type=context.ANONYMOUS, client_ip=ip)
    with acting_as(caller), unit_of_work("identity") as uow:
        assert users.sign_up(uow, {"email": email, "password": PASSWORD}) is None


def test_sign_up_stores_an_argon2id_hash_and_never_the_password(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    email = unique_email()
    sign_up(unit_of_work, email)
    with unit_of_work("identity") as uow:
        user = users.user_by_email(uow, email)
        account = uow.session.scalar(select(Account).where(Account.user_id == user.id))
        mentions = text_occurrences(uow, PASSWORD)
    assert account.password.startswith("$argon2id$")
    assert PASSWORD not in account.password
    assert verify_password(account.password, PASSWORD)
    assert mentions == 0


def test_sign_up_emits_user_registered(unit_of_work: UnitOfWorkFactory) -> None:
    email = unique_email()
    with as_anonymous(), unit_of_work("identity") as uow:
        users.sign_up(uow, {"email": email, "password": PASSWORD, "name": "Tendai"})
    with unit_of_work("identity") as uow:
        user_id = users.user_by_email(uow, email).id
        outbox = uow.tables.outbox_message
        message = uow.session.scalar(
            select(outbox).where(outbox.payload["user_id"].as_string() == user_id)
        )
    assert message.event_type == "user.registered"
    assert (message.payload["email"], message.payload["name"]) == (email, "Tendai")


def test_sign_up_with_a_taken_email_answers_the_same_and_tells_the_owner(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work)
    with as_anonymous(), unit_of_work("identity") as uow:
        answer = users.sign_up(
            uow, {"email": person.email.upper(), "password": NEW_PASSWORD, "name": "Mallory"}
        )
    assert answer is None
    with unit_of_work("identity") as uow:
        same_email = uow.session.scalar(select(func.count()).where(User.email == person.email))
        owner_events = events(uow, "user_id", person.id)
        name = uow.session.get(User, person.id).name
    assert same_email == 1
    assert owner_events == ["user.registered", "user.sign_up_attempted"]
    assert name is None
    assert verify_password(password_of(unit_of_work, person), PASSWORD)


def test_a_taken_email_costs_the_same_password_hash_as_a_new_one(
    unit_of_work: UnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer's timing must not tell them apart either: the hash is nearly all of it."""
    person = make_person(unit_of_work)
    hashed: list[str] = []
    real_hash = users.hash_password
    monkeypatch.setattr(users, "hash_password", lambda pw: hashed.append(pw) or real_hash(pw))
    sign_up(unit_of_work, unique_email())
    sign_up(unit_of_work, person.email)
    assert hashed == [PASSWORD, PASSWORD]


def test_the_owner_of_a_taken_email_is_told_at_most_once_an_hour(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work)
    for _ in range(3):
        sign_up(unit_of_work, person.email)
    with unit_of_work("identity") as uow:
        assert events(uow, "user_id", person.id).count("user.sign_up_attempted") == 1
        uow.session.execute(
            update(SignInThrottle)
            .where(SignInThrottle.key == f"warned:{person.id}")
            .values(window_started_at=utcnow() - throttle.WARNING_INTERVAL)
        )
    sign_up(unit_of_work, person.email)
    with unit_of_work("identity") as uow:
        assert events(uow, "user_id", person.id).count("user.sign_up_attempted") == 2


def test_a_sign_up_that_loses_a_race_for_its_email_answers_like_any_taken_email(
    unit_of_work: UnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = make_person(unit_of_work)
    lookups = iter([None])  # the first look-up misses the account, as a concurrent one would
    real_lookup = users.user_by_email
    monkeypatch.setattr(
        users, "user_by_email", lambda uow, email: next(lookups, real_lookup(uow, email))
    )
    sign_up(unit_of_work, person.email)
    with unit_of_work("identity") as uow:
        assert events(uow, "user_id", person.id) == ["user.registered", "user.sign_up_attempted"]


def test_email_sending_requests_are_limited_per_address(
    unit_of_work: UnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(config.EMAIL_REQUESTS_PER_ADDRESS.name, "3")
    person = make_person(unit_of_work, verified=False)
    address = "10." + ".".join(str(secrets.randbelow(256)) for _ in range(3))
    with acting_as(context.CallContext(actor_type=context.ANONYMOUS, client_ip=address)):
        with unit_of_work("identity") as uow:
            users.request_verification_email(uow, {"email": person.email})
        with unit_of_work("identity") as uow:
            users.request_password_reset(uow, {"email": person.email})
    sign_up(unit_of_work, unique_email(), ip=address)
    refused = unique_email()
    with pytest.raises(RateLimited) as caught:
        sign_up(unit_of_work, refused, ip=address)
    assert caught.value.retry_after is not None and caught.value.retry_after > 0
    sign_up(unit_of_work, unique_email(), ip=address.replace("10.", "11.", 1))
    with unit_of_work("identity") as uow:
        assert users.user_by_email(uow, refused) is None


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
