"""Payments' expiry: the environment's until staff set it, then staff's, at the next pass."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from services.payments import poller, settings, status
from services.payments.models import PaymentStatus
from services.payments.tests.conftest import Acting, Store, add_payment, hours_ago, load_payment
from shared import config
from shared.clock import utcnow
from shared.errors import ValidationFailed


@pytest.fixture
def expiry_kept(store: Store, as_user: Acting) -> Iterator[None]:
    yield
    with as_user(is_staff=True), store.transaction() as uow:
        settings.DECLARED.change(uow, {settings.PAYMENT_EXPIRY_MINUTES: None})


def test_staff_s_expiry_decides_when_an_attempt_is_abandoned(
    store: Store, as_user: Acting, expiry_kept: None
) -> None:
    half_hour_old = add_payment(initiated_at=hours_ago(0.5))
    with store.transaction() as uow:
        default = settings.payment_expiry(uow)
    assert default == timedelta(minutes=int(config.PAYNOW_PAYMENT_EXPIRY_MINUTES.get()))
    assert default > timedelta(minutes=30)  # the environment's expiry has not passed
    assert half_hour_old.id not in dict(poller.claim_due(store, utcnow(), batch=10_000))

    with as_user(is_staff=True), store.transaction() as uow:
        settings.DECLARED.change(uow, {settings.PAYMENT_EXPIRY_MINUTES: 20})
    assert half_hour_old.id in dict(poller.claim_due(store, utcnow(), batch=10_000))
    with store.transaction() as uow:
        payment = status.lock(uow, half_hour_old.id)
        assert payment is not None
        assert status.expire_if_due(uow, payment, utcnow(), "poller") is True
    expired = load_payment(half_hour_old.id)
    assert (expired.status, expired.error_message) == (PaymentStatus.CANCELLED, "expired")


def test_an_expiry_out_of_bounds_is_refused(store: Store, as_user: Acting) -> None:
    for minutes in (0, settings.MAX_EXPIRY_MINUTES + 1, "20"):
        with (
            as_user(is_staff=True),
            pytest.raises(ValidationFailed) as refused,
            store.transaction() as uow,
        ):
            settings.DECLARED.change(uow, {settings.PAYMENT_EXPIRY_MINUTES: minutes})
        assert list(refused.value.fields) == [settings.PAYMENT_EXPIRY_MINUTES]
