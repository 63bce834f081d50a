"""Signing in and out, session tokens, and sign-in throttling (per email and per address
for new clients, per device for known ones)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from services.identity import devices, sessions, throttle
from services.identity.models import KnownDevice, Session, SignInThrottle
from services.identity.tests.helpers import (
    Person,
    UnitOfWorkFactory,
    acting_as,
    as_user,
    attempt_sign_in,
    make_organization,
    make_person,
    sign_in,
    unique_email,
)
from shared import context
from shared.clock import utcnow
from shared.errors import Forbidden, RateLimited, Unauthorized
from shared.tokens import secret_hash


def attempt(unit_of_work: UnitOfWorkFactory, email: str, password: str) -> sessions.SignInOutcome:
    return attempt_sign_in(unit_of_work, email, password)


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


# Known devices (OWASP's device cookie)


def an_address() -> str:
    """A client address of this test alone (the database is shared by the whole run)."""
    return "10." + ".".join(str(secrets.randbelow(256)) for _ in range(3))


def use_up(unit_of_work: UnitOfWorkFactory, key: str, attempts: int) -> None:
    """As if `attempts` attempts had failed under `key` just now."""
    with unit_of_work("identity") as uow:
        uow.session.merge(SignInThrottle(key=key, window_started_at=utcnow(), failures=attempts))


def counted(unit_of_work: UnitOfWorkFactory, key: str) -> int | None:
    with unit_of_work("identity") as uow:
        row = uow.session.get(SignInThrottle, key)
        return row.failures if row is not None else None


def device_rows(unit_of_work: UnitOfWorkFactory, person: Person) -> list[KnownDevice]:
    with unit_of_work("identity") as uow:
        return list(
            uow.session.scalars(select(KnownDevice).where(KnownDevice.user_id == person.id))
        )


def test_a_sign_in_gives_a_device_token_stored_only_as_its_hash(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work)
    signed_in = attempt(unit_of_work, person.email, person.password).result()
    token = signed_in["device_token"]
    [device] = device_rows(unit_of_work, person)
    assert device.token_hash == secret_hash(token) != token
    assert device.expires_at > utcnow() + devices.DEVICE_LIFETIME - timedelta(minutes=1)
    assert signed_in["device_expires_at"] == device.expires_at.isoformat()


def test_a_used_up_address_refuses_new_clients_but_not_a_known_device(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work)
    address = an_address()
    device = attempt_sign_in(unit_of_work, person.email, person.password, ip=address)
    use_up(unit_of_work, f"ip:{address}", throttle.MAX_FAILURES_PER_IP)
    with pytest.raises(RateLimited) as caught:
        attempt_sign_in(unit_of_work, person.email, person.password, ip=address)
    assert caught.value.retry_after is not None and caught.value.retry_after > 0
    known = attempt_sign_in(
        unit_of_work,
        person.email,
        person.password,
        ip=address,
        device_token=device.result()["device_token"],
    )
    assert known.result()["user"]["id"] == person.id
    assert counted(unit_of_work, f"ip:{address}") == throttle.MAX_FAILURES_PER_IP


def test_a_device_token_counts_only_for_its_own_user(unit_of_work: UnitOfWorkFactory) -> None:
    owner, other = make_person(unit_of_work), make_person(unit_of_work)
    token = attempt(unit_of_work, owner.email, owner.password).result()["device_token"]
    address = an_address()
    use_up(unit_of_work, f"ip:{address}", throttle.MAX_FAILURES_PER_IP)
    with pytest.raises(RateLimited):
        attempt_sign_in(unit_of_work, other.email, other.password, ip=address, device_token=token)


def test_guessing_someones_password_does_not_lock_them_out_of_their_known_device(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work)
    token = attempt(unit_of_work, person.email, person.password).result()["device_token"]
    for _ in range(throttle.MAX_FAILURES_PER_EMAIL):
        assert isinstance(attempt(unit_of_work, person.email, "a guess").error, Unauthorized)
    with pytest.raises(RateLimited):
        attempt(unit_of_work, person.email, person.password)
    known = attempt_sign_in(unit_of_work, person.email, person.password, device_token=token)
    assert known.result()["user"]["id"] == person.id


def test_wrong_passwords_through_a_device_are_limited_per_device(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work)
    token = attempt(unit_of_work, person.email, person.password).result()["device_token"]
    [device] = device_rows(unit_of_work, person)
    for _ in range(throttle.MAX_FAILURES_PER_DEVICE):
        guess = attempt_sign_in(unit_of_work, person.email, "a guess", device_token=token)
        assert isinstance(guess.error, Unauthorized)
    assert counted(unit_of_work, f"device:{device.id}") == throttle.MAX_FAILURES_PER_DEVICE
    assert counted(unit_of_work, f"email:{person.email}") is None
    with pytest.raises(RateLimited) as caught:
        attempt_sign_in(unit_of_work, person.email, person.password, device_token=token)
    assert caught.value.retry_after is not None and caught.value.retry_after > 0


def test_each_sign_in_replaces_the_device_token(unit_of_work: UnitOfWorkFactory) -> None:
    person = make_person(unit_of_work)
    first = attempt(unit_of_work, person.email, person.password).result()["device_token"]
    second = attempt_sign_in(
        unit_of_work, person.email, person.password, device_token=first
    ).result()["device_token"]
    assert second != first
    assert len(device_rows(unit_of_work, person)) == 1
    address = an_address()
    use_up(unit_of_work, f"ip:{address}", throttle.MAX_FAILURES_PER_IP)
    with pytest.raises(RateLimited):
        attempt_sign_in(unit_of_work, person.email, person.password, ip=address, device_token=first)
    attempt_sign_in(
        unit_of_work, person.email, person.password, ip=address, device_token=second
    ).result()


def test_an_expired_device_token_is_not_recognised(unit_of_work: UnitOfWorkFactory) -> None:
    person = make_person(unit_of_work)
    token = attempt(unit_of_work, person.email, person.password).result()["device_token"]
    with unit_of_work("identity") as uow:
        uow.session.execute(
            update(KnownDevice)
            .where(KnownDevice.user_id == person.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        assert devices.recognise(uow, token, person.email) is None


def test_a_person_keeps_at_most_a_fixed_number_of_devices(
    unit_of_work: UnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(devices, "MAX_DEVICES_PER_USER", 2)
    person = make_person(unit_of_work)
    tokens = [
        attempt(unit_of_work, person.email, person.password).result()["device_token"]
        for _ in range(3)
    ]
    with unit_of_work("identity") as uow:
        recognised = [devices.recognise(uow, token, person.email) for token in tokens]
    assert recognised[0] is None
    assert None not in recognised[1:]


def test_an_attempt_is_counted_before_its_password_is_checked(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work)
    address = an_address()
    caller = context.CallContext(actor_type=context.ANONYMOUS, client_ip=address)
    with acting_as(caller):
        with unit_of_work("identity") as uow:
            started = sessions.begin_sign_in(
                uow, {"email": person.email, "password": person.password}
            )
        assert counted(unit_of_work, f"email:{person.email}") == 1
        assert counted(unit_of_work, f"ip:{address}") == 1
        with unit_of_work("identity") as uow:
            sessions.finish_sign_in(uow, started).result()
    assert counted(unit_of_work, f"email:{person.email}") is None
    assert counted(unit_of_work, f"ip:{address}") == 0


def test_a_right_password_takes_back_only_its_own_attempt_at_a_shared_address(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    person = make_person(unit_of_work)
    unverified = make_person(unit_of_work, verified=False)
    address = an_address()
    use_up(unit_of_work, f"ip:{address}", 7)
    attempt_sign_in(unit_of_work, person.email, person.password, ip=address).result()
    refused = attempt_sign_in(unit_of_work, unverified.email, unverified.password, ip=address)
    assert isinstance(refused.error, Forbidden)
    assert counted(unit_of_work, f"ip:{address}") == 7
    assert counted(unit_of_work, f"email:{unverified.email}") == 0


def test_a_refused_attempt_is_not_counted(unit_of_work: UnitOfWorkFactory) -> None:
    person = make_person(unit_of_work)
    use_up(unit_of_work, f"email:{person.email}", throttle.MAX_FAILURES_PER_EMAIL)
    for _ in range(3):
        with pytest.raises(RateLimited):
            attempt(unit_of_work, person.email, person.password)
    assert counted(unit_of_work, f"email:{person.email}") == throttle.MAX_FAILURES_PER_EMAIL


def test_a_window_that_is_over_starts_again(unit_of_work: UnitOfWorkFactory) -> None:
    person = make_person(unit_of_work)
    with unit_of_work("identity") as uow:
        uow.session.add(
            SignInThrottle(
                key=f"email:{person.email}",
                window_started_at=utcnow() - throttle.WINDOW - timedelta(seconds=1),
                failures=throttle.MAX_FAILURES_PER_EMAIL,
            )
        )
    assert isinstance(attempt(unit_of_work, person.email, "a guess").error, Unauthorized)
    assert counted(unit_of_work, f"email:{person.email}") == 1
