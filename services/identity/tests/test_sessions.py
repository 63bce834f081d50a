"""Signing in and out, session tokens, and sign-in throttling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from services.identity import sessions, throttle
from services.identity.models import Session, SignInThrottle
from services.identity.tests.helpers import (
    Person,
    UnitOfWorkFactory,
    as_anonymous,
    as_user,
    make_organization,
    make_person,
    sign_in,
    unique_email,
)
from shared.clock import utcnow
from shared.errors import Forbidden, RateLimited, Unauthorized
from shared.tokens import secret_hash


def attempt(unit_of_work: UnitOfWorkFactory, email: str, password: str) -> sessions.SignInOutcome:
    with as_anonymous(), unit_of_work("identity") as uow:
        return sessions.sign_in(uow, {"email": email, "password": password})


def session_ids(unit_of_work: UnitOfWorkFactory, person: Person) -> set[str]:
    with unit_of_work("identity") as uow:
        return set(uow.session.scalars(select(Session.id).where(Session.user_id == person.id)))


def test_sign_in_returns_an_outcome_with_a_token_for_the_user(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work)
    outcome = attempt(unit_of_work, person.email.upper(), person.password)
    assert isinstance(outcome, sessions.SignInOutcome)
    assert outcome.error is None
    signed_in = outcome.result()
    assert signed_in["user"]["id"] == person.id
    assert signed_in["token"] and signed_in["csrf_token"]


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work)
    wrong_password = attempt(unit_of_work, person.email, "not the password")
    unknown_email = attempt(unit_of_work, unique_email("nobody"), person.password)
    assert isinstance(wrong_password.error, Unauthorized)
    assert isinstance(unknown_email.error, Unauthorized)
    assert wrong_password.error.message == unknown_email.error.message
    assert wrong_password.error.fields == unknown_email.error.fields
    with pytest.raises(Unauthorized):
        wrong_password.result()


def test_an_unverified_email_is_forbidden_only_with_the_right_password(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work, verified=False)
    wrong_password = attempt(unit_of_work, person.email, "not the password")
    right_password = attempt(unit_of_work, person.email, person.password)
    assert isinstance(wrong_password.error, Unauthorized)
    assert isinstance(right_password.error, Forbidden)
    assert right_password.signed_in is None
    assert session_ids(unit_of_work, person) == set()


def test_a_session_stores_only_the_hash_of_its_token(unit_of_work: UnitOfWorkFactory) -> None:
    person = make_person(unit_of_work)
    token = attempt(unit_of_work, person.email, person.password).result()["token"]
    with unit_of_work("identity") as uow:
        stored = uow.session.scalars(
            select(Session.token_hash).where(Session.user_id == person.id)
        ).all()
        plain = uow.session.scalar(select(func.count()).where(Session.token_hash == token))
    assert stored == [secret_hash(token)]
    assert plain == 0


def test_authenticate_session_gives_the_user_and_their_role_in_the_named_organization(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work)
    own = make_organization(unit_of_work, person)
    foreign = make_organization(unit_of_work, make_person(unit_of_work))
    signed_in = sign_in(unit_of_work, person)
    with unit_of_work("identity") as uow:
        in_own = sessions.authenticate_session(uow, signed_in["token"], own)
        in_foreign = sessions.authenticate_session(uow, signed_in["token"], foreign)
        in_none = sessions.authenticate_session(uow, signed_in["token"])
    assert (in_own["user_id"], in_own["email"]) == (person.id, person.email)
    assert in_own["is_staff"] is False
    assert (in_own["role"], in_foreign["role"], in_none["role"]) == ("OWNER", None, None)


def test_an_unknown_session_token_is_unauthorized(unit_of_work: UnitOfWorkFactory) -> None:
    with pytest.raises(Unauthorized), unit_of_work("identity") as uow:
        sessions.authenticate_session(uow, "not-a-session-token")


def test_an_expired_session_is_unauthorized(unit_of_work: UnitOfWorkFactory) -> None:
    person = make_person(unit_of_work)
    signed_in = sign_in(unit_of_work, person)
    with unit_of_work("identity") as uow:
        uow.session.execute(
            update(Session)
            .where(Session.id == signed_in["session_id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    with pytest.raises(Unauthorized), unit_of_work("identity") as uow:
        sessions.authenticate_session(uow, signed_in["token"])


def test_after_five_failures_even_the_right_password_is_rate_limited(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work)
    failures = [
        attempt(unit_of_work, person.email, "not the password")
        for _ in range(throttle.MAX_FAILURES_PER_EMAIL)
    ]
    assert all(isinstance(outcome.error, Unauthorized) for outcome in failures)
    with unit_of_work("identity") as uow:
        counted = uow.session.get(SignInThrottle, f"email:{person.email}")
        assert counted is not None and counted.failures == throttle.MAX_FAILURES_PER_EMAIL
    with pytest.raises(RateLimited) as caught:
        attempt(unit_of_work, person.email, person.password)
    assert caught.value.retry_after is not None and caught.value.retry_after > 0
    assert session_ids(unit_of_work, person) == set()


def test_a_successful_sign_in_clears_the_failure_count(unit_of_work: UnitOfWorkFactory) -> None:
    person = make_person(unit_of_work)
    for _ in range(throttle.MAX_FAILURES_PER_EMAIL - 1):
        attempt(unit_of_work, person.email, "not the password")
    attempt(unit_of_work, person.email, person.password).result()
    with unit_of_work("identity") as uow:
        assert uow.session.get(SignInThrottle, f"email:{person.email}") is None


def test_sign_out_ends_only_the_current_session(unit_of_work: UnitOfWorkFactory) -> None:
    person = make_person(unit_of_work)
    current = sign_in(unit_of_work, person)
    other = sign_in(unit_of_work, person)
    with as_user(person, session_id=current["session_id"]), unit_of_work("identity") as uow:
        sessions.sign_out(uow)
    assert session_ids(unit_of_work, person) == {other["session_id"]}
    with pytest.raises(Unauthorized), unit_of_work("identity") as uow:
        sessions.authenticate_session(uow, current["token"])


def test_sign_out_everywhere_ends_every_session(unit_of_work: UnitOfWorkFactory) -> None:
    person = make_person(unit_of_work)
    bystander = make_person(unit_of_work)
    current = sign_in(unit_of_work, person)
    sign_in(unit_of_work, person)
    sign_in(unit_of_work, bystander)
    with as_user(person, session_id=current["session_id"]), unit_of_work("identity") as uow:
        ended = sessions.sign_out_everywhere(uow)
    assert ended == 2
    assert session_ids(unit_of_work, person) == set()
    assert len(session_ids(unit_of_work, bystander)) == 1
