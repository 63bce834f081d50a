"""Paynow's statuses applied to payments: the mapping, once only (duplicates change nothing
and emit nothing), money confirmed late still counted, and amounts that do not match
never applied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.payments.models import Payment, PaymentStatus
from services.payments.paynow import StatusReport
from services.payments.status import apply_report, lock, poll_delay
from services.payments.tests.conftest import (
    Store,
    add_payment,
    audit_actions,
    event_types_about,
    events_about,
    load_payment,
)

POLL_URL = "http://paynow.test/Interface/CheckPayment/?guid=1"


def report(payment: Payment, status: str, amount: int | None = None) -> StatusReport:
    return StatusReport(
        reference=payment.id,
        paynow_reference="10001",
        amount=payment.amount if amount is None else amount,
        status=status,
        poll_url=POLL_URL,
    )


def apply(store: Store, payment: Payment, status: str, amount: int | None = None) -> Payment:
    with store.transaction() as uow:
        locked = lock(uow, payment.id)
        assert locked is not None
        apply_report(uow, locked, report(payment, status, amount), "test", POLL_URL)
    return load_payment(payment.id)


@pytest.mark.parametrize(
    ("paynow_status", "status", "events"),
    [
        ("Paid", PaymentStatus.PAID, ["payment.paid"]),
        ("Awaiting Delivery", PaymentStatus.PAID, ["payment.paid"]),
        ("Delivered", PaymentStatus.PAID, ["payment.paid"]),
        ("Cancelled", PaymentStatus.CANCELLED, ["payment.failed"]),
        ("Failed", PaymentStatus.FAILED, ["payment.failed"]),
        ("Created", PaymentStatus.PENDING, []),
        ("Sent", PaymentStatus.PENDING, []),
        # Only a paid transaction can be disputed or refunded: the money came in.
        ("Disputed", PaymentStatus.PAID, ["payment.paid", "payment.disputed"]),
        ("Refunded", PaymentStatus.PAID, ["payment.paid", "payment.refunded"]),
        ("Mystery", PaymentStatus.PENDING, []),
    ],
)
def test_paynows_status_maps_to_a_payment_status_and_events(
    store: Store, paynow_status: str, status: PaymentStatus, events: list[str]
) -> None:
    payment = apply(store, add_payment(), paynow_status)
    assert payment.status == status
    assert event_types_about(payment.id) == events
    assert payment.external_id == "10001"
    if status == PaymentStatus.PAID:
        assert payment.completed_at is not None and payment.next_poll_at is None
    if status in (PaymentStatus.FAILED, PaymentStatus.CANCELLED):
        assert payment.failed_at is not None and payment.error_message


def test_a_paid_event_carries_the_payment(store: Store) -> None:
    pending = add_payment(amount=4_321)
    apply(store, pending, "Paid")
    [(event_type, payload)] = events_about(pending.id)
    assert event_type == "payment.paid"
    assert {k: payload[k] for k in ("invoice_id", "organization_id", "amount", "method")} == {
        "invoice_id": pending.invoice_id,
        "organization_id": pending.organization_id,
        "amount": 4_321,
        "method": "PAYNOW_ECOCASH",
    }


def test_the_same_status_twice_changes_nothing_the_second_time(store: Store) -> None:
    pending = add_payment()
    first = apply(store, pending, "Paid")
    second = apply(store, pending, "Paid")
    assert second.completed_at == first.completed_at
    assert event_types_about(pending.id) == ["payment.paid"]
    assert audit_actions(pending.id).count("payment.paid") == 1


def test_a_dispute_then_a_refund_of_a_paid_payment_are_each_announced_once(
    store: Store,
) -> None:
    pending = add_payment()
    apply(store, pending, "Paid")
    disputed = apply(store, pending, "Disputed")
    apply(store, pending, "Disputed")
    refunded = apply(store, pending, "Refunded")
    apply(store, pending, "Refunded")
    assert (disputed.status, disputed.external_status) == (PaymentStatus.PAID, "Disputed")
    assert (refunded.status, refunded.external_status) == (PaymentStatus.PAID, "Refunded")
    assert refunded.paynow_status_changed_at > disputed.paynow_status_changed_at
    assert event_types_about(pending.id) == [
        "payment.paid",
        "payment.disputed",
        "payment.refunded",
    ]
    [(_, payload)] = [e for e in events_about(pending.id) if e[0] == "payment.refunded"]
    assert payload["paynow_reference"] == "10001"


def test_money_confirmed_after_the_attempt_was_given_up_still_counts(store: Store) -> None:
    cancelled = add_payment(status=PaymentStatus.CANCELLED, error_message="expired")
    paid = apply(store, cancelled, "Paid")
    assert (paid.status, paid.error_message) == (PaymentStatus.PAID, None)
    assert event_types_about(cancelled.id) == ["payment.paid"]
    assert "payment.paid" in audit_actions(cancelled.id)


def test_a_paid_payment_is_never_cancelled_or_failed_by_a_later_report(store: Store) -> None:
    pending = add_payment()
    apply(store, pending, "Paid")
    for status in ("Cancelled", "Failed", "Sent"):
        assert apply(store, pending, status).status == PaymentStatus.PAID
    assert event_types_about(pending.id) == ["payment.paid"]


def test_a_cancelled_payment_is_not_failed_again(store: Store) -> None:
    pending = add_payment()
    apply(store, pending, "Cancelled")
    assert apply(store, pending, "Failed").status == PaymentStatus.CANCELLED
    assert event_types_about(pending.id) == ["payment.failed"]


def test_an_amount_that_does_not_match_is_not_applied_but_recorded(store: Store) -> None:
    pending = add_payment(amount=2_500)
    payment = apply(store, pending, "Paid", amount=1)
    apply(store, pending, "Paid", amount=1)
    assert payment.status == PaymentStatus.PENDING
    assert payment.error_message and "USD 0.01" in payment.error_message
    assert event_types_about(pending.id) == []
    assert audit_actions(pending.id).count("payment.amount_mismatch") == 1


def test_a_report_about_another_reference_is_not_applied(store: Store) -> None:
    pending = add_payment()
    other = add_payment()
    with store.transaction() as uow:
        locked = lock(uow, pending.id)
        assert locked is not None
        apply_report(uow, locked, report(other, "Paid"), "test", POLL_URL)
    assert load_payment(pending.id).status == PaymentStatus.PENDING


def test_the_poll_url_of_a_confirmed_report_is_kept_when_the_payment_had_none(
    store: Store,
) -> None:
    pending = add_payment()
    assert apply(store, pending, "Sent").poll_url == POLL_URL


def test_polls_back_off_after_the_first_minutes_up_to_ten_minutes() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    interval = timedelta(seconds=30)
    assert poll_delay(start, start + timedelta(minutes=4), 8, interval) == interval
    assert poll_delay(start, start + timedelta(minutes=6), 11, interval) == 2 * interval
    assert poll_delay(start, start + timedelta(minutes=8), 12, interval) == 4 * interval
    assert poll_delay(start, start + timedelta(minutes=50), 40, interval) == timedelta(minutes=10)
    # A few polls only (status posts settled the rest) still never polls faster than the interval.
    assert poll_delay(start, start + timedelta(minutes=30), 1, interval) == interval
