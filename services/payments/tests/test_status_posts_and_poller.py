"""How news from Paynow arrives: status posts (verified, then confirmed by a poll), the
poller (claims with SKIP LOCKED, backs off, expires abandoned attempts) and the staff
check, with the simulator posting and answering as Paynow does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from services.payments import checkout, poller, status
from services.payments.models import Payment, PaymentMethod, PaymentStatus, tables
from services.payments.paynow import PaynowClient
from services.payments.tests.conftest import (
    MERCHANT,
    Acting,
    Invoice,
    ResultUrl,
    RunningSimulator,
    Store,
    add_payment,
    audit_actions,
    event_types_about,
    hours_ago,
    load_payment,
)
from shared import paynow as wire
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, NotFound, Unavailable, ValidationFailed

ECOCASH = {"method": "ecocash", "phone": "0771111111"}  # paid after 5 s (scaled)


def start(store: Store, client: PaynowClient, data: dict[str, Any] = ECOCASH) -> str:
    invoice = Invoice()
    answer = checkout.start_checkout_by_token(store, client, invoice.token, data, invoice.link_of)
    return answer["payment"]["id"]


def signed(message: wire.Message) -> str:
    return wire.encode(wire.sign(message, MERCHANT.integration_key))


# --- status posts ---------------------------------------------------------------------------


def test_a_status_post_is_confirmed_by_a_poll_and_applied_once(
    store: Store, client: PaynowClient, simulator: RunningSimulator, result_url: ResultUrl
) -> None:
    simulator.app.switches.update({"duplicate_status_posts": True})
    payment_id = start(store, client)
    first, second = result_url.wait_for(payment_id, count=2)

    assert status.receive_status_post(store, client, first) == {
        "accepted": True,
        "status": "PAID",
    }
    assert status.receive_status_post(store, client, second) == {
        "accepted": True,
        "status": "PAID",
    }
    assert event_types_about(payment_id) == ["payment.paid"]
    payment = load_payment(payment_id)
    assert (payment.external_status, payment.next_poll_at) == ("Paid", None)
    assert payment.poll_count == 2


def test_a_post_that_says_paid_is_not_believed_until_paynow_confirms_it(
    store: Store, client: PaynowClient, simulator: RunningSimulator
) -> None:
    payment_id = start(store, client, {"method": "visa"})  # Created until someone pays
    payment = load_payment(payment_id)
    post = signed(
        [
            ("reference", payment_id),
            ("paynowreference", payment.external_id or ""),
            ("amount", "100.00"),
            ("status", "Paid"),
            ("pollurl", payment.poll_url or ""),
        ]
    )
    assert status.receive_status_post(store, client, post) == {
        "accepted": True,
        "status": "PENDING",
    }
    assert load_payment(payment_id).external_status == "Created"
    assert event_types_about(payment_id) == []


def test_a_post_with_a_bad_hash_is_refused_and_the_refusal_audited(
    store: Store, client: PaynowClient, simulator: RunningSimulator, result_url: ResultUrl
) -> None:
    simulator.app.switches.update({"bad_hash": True})
    payment_id = start(store, client)
    [post] = result_url.wait_for(payment_id)
    with pytest.raises(ValidationFailed) as refused:
        status.receive_status_post(store, client, post)
    assert list(refused.value.fields) == ["hash"]
    assert "paynow.status_post_refused" in audit_actions(payment_id)
    assert load_payment(payment_id).status == PaymentStatus.PENDING
    with pytest.raises(ValidationFailed) as refused:
        status.receive_status_post(store, client, "reference=x&status=Paid\x00&hash=%c3%a9")
    assert list(refused.value.fields) == ["hash"]


def test_a_post_that_is_not_a_body_is_refused(store: Store, client: PaynowClient) -> None:
    with pytest.raises(ValidationFailed) as refused:
        status.receive_status_post(store, client, {"status": "Paid"})  # type: ignore[arg-type]
    assert list(refused.value.fields) == ["body"]


def test_a_post_about_a_payment_we_do_not_have_is_not_accepted(
    store: Store, client: PaynowClient
) -> None:
    for reference in ("c" + "0" * 24, "INV-1"):
        post = signed([("reference", reference), ("amount", "1.00"), ("status", "Paid")])
        assert status.receive_status_post(store, client, post) == {"accepted": False}


def test_a_post_settles_a_payment_whose_initiation_reply_was_lost(
    store: Store, client: PaynowClient, simulator: RunningSimulator, result_url: ResultUrl
) -> None:
    """A crash between Paynow starting it and our second commit: the row is PENDING with no
    poll URL; the status post's poll URL (on Paynow's host) is polled and kept."""
    payment = add_payment(amount=1_000)
    client.initiate_express(
        reference=payment.id,
        amount=1_000,
        additional_info="Invoice INV-1",
        auth_email="payer@example.co.zw",
        return_url="http://gateway.test/pay/t",
        result_url=f"{result_url.base_url}/webhooks/paynow",
        phone="0771111111",
        method="ecocash",
    )
    [post] = result_url.wait_for(payment.id)
    assert status.receive_status_post(store, client, post)["status"] == "PAID"
    assert load_payment(payment.id).poll_url == simulator.transaction(payment.id).poll_url


def test_a_poll_url_off_paynows_host_is_never_polled(store: Store, client: PaynowClient) -> None:
    payment = add_payment()
    post = signed(
        [
            ("reference", payment.id),
            ("amount", "25.00"),
            ("status", "Paid"),
            ("pollurl", "http://evil.test/Interface/CheckPayment/?guid=1"),
        ]
    )
    assert status.receive_status_post(store, client, post) == {
        "accepted": True,
        "status": "PENDING",
    }
    assert load_payment(payment.id).poll_url is None


def test_when_paynow_cannot_confirm_a_post_it_is_asked_to_post_again(
    store: Store, client: PaynowClient, simulator: RunningSimulator, result_url: ResultUrl
) -> None:
    payment_id = start(store, client)
    [post] = result_url.wait_for(payment_id)
    simulator.app.switches.update({"bad_hash_replies": True})
    with pytest.raises(Unavailable):
        status.receive_status_post(store, client, post)
    assert load_payment(payment_id).status == PaymentStatus.PENDING


# --- the staff check ------------------------------------------------------------------------


def test_staff_ask_paynow_about_a_payment_now(
    store: Store,
    client: PaynowClient,
    simulator: RunningSimulator,
    as_user: Acting,
) -> None:
    payment_id = start(store, client, {"method": "ecocash", "phone": "0773333333"})
    simulator.wait_for_status(payment_id, "Cancelled")
    with as_user(is_staff=True):
        checked = status.check_payment(store, client, payment_id)
    assert (checked["status"], checked["paynow_status"]) == ("CANCELLED", "Cancelled")
    assert checked["error_message"] == status.CANCELLED_REASON
    assert event_types_about(payment_id) == ["payment.failed"]


def test_the_staff_check_refuses_what_it_cannot_ask_about(
    store: Store, client: PaynowClient, as_user: Acting
) -> None:
    manual = add_payment(method=PaymentMethod.CASH, status=PaymentStatus.PAID)
    with as_user(is_staff=True):
        with pytest.raises(Conflict):
            status.check_payment(store, client, manual.id)
        with pytest.raises(NotFound):
            status.check_payment(store, client, "nope")
    with as_user("c" + "o" * 24, "OWNER"), pytest.raises(Forbidden):
        status.check_payment(store, client, manual.id)


# --- the poller -----------------------------------------------------------------------------


def make_due(payment_id: str, **values: Any) -> None:
    with Store().transaction() as uow:
        uow.session.execute(
            update(Payment)
            .where(Payment.id == payment_id)
            .values(next_poll_at=utcnow() - timedelta(seconds=1), **values)
        )


def test_the_poller_settles_a_payment_whose_status_posts_were_lost(
    store: Store, client: PaynowClient, simulator: RunningSimulator, as_system: Acting
) -> None:
    simulator.app.switches.update({"drop_status_posts": True})
    payment_id = start(store, client)
    simulator.wait_for_status(payment_id, "Paid")
    make_due(payment_id)
    with as_system():
        poller.poll_pending_payments(store, client)
    assert load_payment(payment_id).status == PaymentStatus.PAID
    assert event_types_about(payment_id) == ["payment.paid"]


def test_only_the_suite_runs_the_poller(
    store: Store, client: PaynowClient, as_user: Acting
) -> None:
    with as_user(is_staff=True), pytest.raises(Forbidden):
        poller.poll_pending_payments(store, client)


def test_a_claimed_payment_is_not_claimed_again_until_its_next_poll(
    store: Store, client: PaynowClient
) -> None:
    payment_id = start(store, client, {"method": "visa"})
    make_due(payment_id)
    now = utcnow()
    assert payment_id in [found for found, _ in poller.claim_due(store, now, batch=10_000)]
    assert payment_id not in [found for found, _ in poller.claim_due(store, now, batch=10_000)]
    claimed = load_payment(payment_id)
    assert claimed.next_poll_at > now and claimed.poll_count == 1


def test_a_payment_locked_by_another_replica_is_skipped(store: Store, client: PaynowClient) -> None:
    payment_id = start(store, client, {"method": "visa"})
    make_due(payment_id)
    with store.transaction() as other_replica:
        other_replica.session.scalar(
            select(Payment).where(Payment.id == payment_id).with_for_update()
        )
        claimed = [found for found, _ in poller.claim_due(store, utcnow(), batch=10_000)]
        assert payment_id not in claimed
    assert payment_id in [found for found, _ in poller.claim_due(store, utcnow(), batch=10_000)]


def test_an_abandoned_attempt_expires_as_cancelled(
    store: Store, client: PaynowClient, as_system: Acting
) -> None:
    """Web checkout nobody finished: Paynow still says Created after the expiry."""
    payment_id = start(store, client, {"method": "visa"})
    make_due(payment_id, initiated_at=hours_ago(2))
    no_poll_url = add_payment(initiated_at=hours_ago(2))  # Paynow never answered
    young = add_payment()
    with as_system():
        poller.poll_pending_payments(store, client)
    for expired in (payment_id, no_poll_url.id):
        payment = load_payment(expired)
        assert (payment.status, payment.error_message) == (PaymentStatus.CANCELLED, "expired")
        assert event_types_about(expired) == ["payment.failed"]
    assert load_payment(young.id).status == PaymentStatus.PENDING


def test_an_old_attempt_paynow_says_is_paid_is_paid_not_expired(
    store: Store, client: PaynowClient, simulator: RunningSimulator, as_system: Acting
) -> None:
    simulator.app.switches.update({"drop_status_posts": True})
    payment_id = start(store, client)
    simulator.wait_for_status(payment_id, "Paid")
    make_due(payment_id, initiated_at=hours_ago(2))
    with as_system():
        poller.poll_pending_payments(store, client)
    assert load_payment(payment_id).status == PaymentStatus.PAID
    assert event_types_about(payment_id) == ["payment.paid"]


def test_events_of_a_failed_payment_say_why(store: Store, client: PaynowClient) -> None:
    payment_id = start(store, client, {"method": "ecocash", "phone": "0774444444"})
    outbox = tables.outbox_message
    with store.transaction() as uow:
        [payload] = uow.session.scalars(
            select(outbox.payload).where(outbox.payload["payment_id"].as_string() == payment_id)
        ).all()
    assert (payload["status"], payload["reason"]) == ("FAILED", "Insufficient balance")
