"""What Paynow says about a payment, applied once: the one place a Paynow payment changes
status, whether the news came by status post, by the poller or by a staff check.

Every change happens under `SELECT ... FOR UPDATE` of the payment row and is decided by
the row's state at that moment, so a duplicate status post, a poll racing a post, or two
replicas polling at once change nothing the second time and emit nothing twice. Events go
out through the outbox in the same transaction.
"""

from __future__ import annotations

import enum
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from services.payments import settings
from services.payments.events import (
    PaymentDisputed,
    PaymentFailed,
    PaymentPaid,
    PaymentRefunded,
)
from services.payments.models import PAYNOW_METHODS, Payment, PaymentStatus
from services.payments.paynow import (
    PaynowClient,
    PaynowError,
    PaynowUntrusted,
    StatusReport,
)
from services.payments.schemas import PaymentSchema
from shared import config
from shared import paynow as wire
from shared.authorization import require_staff
from shared.clock import utcnow
from shared.errors import Conflict, NotFound, Unavailable, ValidationFailed
from shared.ids import is_cuid
from shared.money import format_cents
from shared.unit_of_work import Transactions, UnitOfWork

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    PAID = "paid"
    CANCELLED = "cancelled"
    FAILED = "failed"
    PENDING = "pending"
    DISPUTED = "disputed"
    REFUNDED = "refunded"


# Paynow's statuses and what they mean here. Awaiting Delivery and Delivered are paid:
# the money is with the merchant, only the goods are in question.
OUTCOMES: dict[str, Outcome] = {
    wire.PAID: Outcome.PAID,
    wire.AWAITING_DELIVERY: Outcome.PAID,
    wire.DELIVERED: Outcome.PAID,
    wire.CANCELLED: Outcome.CANCELLED,
    wire.FAILED: Outcome.FAILED,
    wire.CREATED: Outcome.PENDING,
    wire.SENT: Outcome.PENDING,
    wire.DISPUTED: Outcome.DISPUTED,
    wire.REFUNDED: Outcome.REFUNDED,
}
# Disputed and Refunded only follow Paid: money was received even if we never saw Paid.
MONEY_RECEIVED = frozenset({Outcome.PAID, Outcome.DISPUTED, Outcome.REFUNDED})

CANCELLED_REASON = "Cancelled on Paynow"
FAILED_REASON = "Paynow reports the payment failed"
EXPIRED_REASON = "expired"

# The poller's backoff: every interval while a payer is likely still at their phone, then
# doubling, so an abandoned attempt is not asked about every interval until it expires.
FULL_RATE = timedelta(minutes=5)
MAX_POLL_DELAY = timedelta(minutes=10)


def poll_interval() -> timedelta:
    return timedelta(seconds=float(config.PAYNOW_POLL_INTERVAL_SECONDS.get()))


def poll_delay(initiated_at: datetime, now: datetime, polls: int, interval: timedelta) -> timedelta:
    """How long after a poll (the `polls`-th) the next one is due."""
    if now - initiated_at < FULL_RATE or interval <= timedelta(0):
        return interval
    beyond = polls - int(FULL_RATE / interval)
    return max(interval, min(interval * 2 ** min(max(beyond, 0), 16), MAX_POLL_DELAY))


def note_poll(payment: Payment, now: datetime) -> None:
    """Paynow was (or is about to be) asked about `payment`: schedule the next poll, if it
    is still pending and there is somewhere to ask."""
    payment.last_polled_at = now
    payment.poll_count += 1
    payment.next_poll_at = (
        now + poll_delay(payment.initiated_at, now, payment.poll_count, poll_interval())
        if payment.status == PaymentStatus.PENDING and payment.poll_url
        else None
    )


def lock(uow: UnitOfWork, payment_id: str) -> Payment | None:
    if not is_cuid(payment_id):
        return None
    return uow.session.scalar(
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


# --- transitions (the caller holds the row lock) ------------------------------------------


def _event_fields(payment: Payment) -> dict[str, Any]:
    return {
        "payment_id": payment.id,
        "invoice_id": payment.invoice_id,
        # Only payments recorded before organization_id was kept lack it: manual ones,
        # which never change status after they are recorded.
        "organization_id": payment.organization_id or "",
        "billing_account_id": payment.billing_account_id,
        "amount": payment.amount,
        "method": payment.method.value,
    }


def mark_paid(uow: UnitOfWork, payment: Payment, source: str) -> None:
    previous = payment.status
    now = utcnow()
    payment.status, payment.completed_at = PaymentStatus.PAID, now
    payment.error_message, payment.next_poll_at = None, None
    uow.audit(
        "payment.paid",
        "Payment",
        payment.id,
        {"from": previous.value, "source": source, "amount": payment.amount},
        organization_id=payment.organization_id,
    )
    if previous != PaymentStatus.PENDING:
        # Money Paynow confirms is never dropped, even on an attempt we had given up on.
        log.warning(
            "payment %s was %s here but Paynow confirms it paid: counted as PAID",
            payment.id,
            previous.value,
        )
    uow.emit(PaymentPaid(**_event_fields(payment)))


def mark_ended(
    uow: UnitOfWork, payment: Payment, status: PaymentStatus, reason: str, source: str
) -> None:
    """A pending payment ends without money: FAILED or CANCELLED, with the reason."""
    payment.status, payment.failed_at = status, utcnow()
    payment.error_message, payment.next_poll_at = reason, None
    uow.audit(
        f"payment.{status.value.lower()}",
        "Payment",
        payment.id,
        {"reason": reason, "source": source},
        organization_id=payment.organization_id,
    )
    uow.emit(PaymentFailed(**_event_fields(payment), status=status.value, reason=reason))


def _record_paynow_status(uow: UnitOfWork, payment: Payment, paynow_status: str) -> bool:
    if payment.external_status == paynow_status:
        return False
    uow.audit(
        "payment.paynow_status",
        "Payment",
        payment.id,
        {"from": payment.external_status, "to": paynow_status},
        organization_id=payment.organization_id,
    )
    payment.external_status, payment.paynow_status_changed_at = paynow_status, utcnow()
    return True


def apply_report(
    uow: UnitOfWork, payment: Payment, report: StatusReport, source: str, poll_url: str
) -> None:
    """Apply a verified poll reply (from `poll_url`) to the locked `payment`."""
    if payment.method not in PAYNOW_METHODS:
        log.warning(
            "ignoring Paynow's %s for %s payment %s", report.status, payment.method, payment.id
        )
        return
    if report.reference != payment.id:
        log.warning(
            "Paynow's poll of payment %s answered about %r: not applied",
            payment.id,
            report.reference,
        )
        return
    if report.amount != payment.amount:
        shown = "an unreadable amount" if report.amount is None else format_cents(report.amount)
        message = (
            f"Paynow reports {shown} for this payment of {format_cents(payment.amount)}; "
            "nothing was applied"
        )
        log.warning("payment %s: %s (%s)", payment.id, message, report.status)
        if payment.error_message != message:
            payment.error_message = message
            uow.audit(
                "payment.amount_mismatch",
                "Payment",
                payment.id,
                {"status": report.status},
                organization_id=payment.organization_id,
            )
        return
    if payment.poll_url is None:  # Paynow started it, but its initiation reply was lost
        payment.poll_url = poll_url
    if payment.external_id is None and report.paynow_reference:
        payment.external_id = report.paynow_reference
    outcome = OUTCOMES.get(report.status)
    if outcome is None:
        log.warning("payment %s: unknown Paynow status %r", payment.id, report.status)
        return
    if outcome in MONEY_RECEIVED and payment.status != PaymentStatus.PAID:
        mark_paid(uow, payment, source)
    elif outcome is Outcome.CANCELLED and payment.status == PaymentStatus.PENDING:
        mark_ended(uow, payment, PaymentStatus.CANCELLED, CANCELLED_REASON, source)
    elif outcome is Outcome.FAILED and payment.status == PaymentStatus.PENDING:
        mark_ended(uow, payment, PaymentStatus.FAILED, FAILED_REASON, source)
    changed = _record_paynow_status(uow, payment, report.status)
    if changed and outcome in (Outcome.DISPUTED, Outcome.REFUNDED):
        contract = PaymentDisputed if outcome is Outcome.DISPUTED else PaymentRefunded
        uow.emit(contract(**_event_fields(payment), paynow_reference=payment.external_id or ""))


def expire_if_due(uow: UnitOfWork, payment: Payment, now: datetime, source: str) -> bool:
    """CANCELLED as expired if still pending past the expiry staff set (default
    PAYNOW_PAYMENT_EXPIRY_MINUTES; see services.payments.settings)."""
    if payment.status != PaymentStatus.PENDING:
        return False
    if now - payment.initiated_at < settings.payment_expiry(uow):
        return False
    mark_ended(uow, payment, PaymentStatus.CANCELLED, EXPIRED_REASON, source)
    return True


# --- asking Paynow ------------------------------------------------------------------------


def poll_and_apply(
    store: Transactions, client: PaynowClient, payment_id: str, poll_url: str, source: str
) -> Payment | None:
    """Poll Paynow (outside any transaction: no row stays locked while Paynow thinks), then
    apply its answer under the row lock. PaynowError when there is no usable answer."""
    report = client.poll(poll_url)
    with store.transaction() as uow:
        payment = lock(uow, payment_id)
        if payment is None:
            return None
        apply_report(uow, payment, report, source, poll_url)
        note_poll(payment, utcnow())
        return payment


def _claimed(values: dict[str, str], name: str) -> str:
    """What an unverified post claims, fit for an audit row (anyone can post anything)."""
    return values.get(name, "").replace("\x00", "")[:64]


def receive_status_post(store: Transactions, client: PaynowClient, body: str) -> dict[str, Any]:
    """Paynow's post to the result URL. Its hash must verify (else it is refused and the
    refusal audited); then it is only a hint: Paynow is polled and the poll applied."""
    if not isinstance(body, str):
        raise ValidationFailed(
            "the status post must be its url-encoded body", {"body": ["not text"]}
        )
    try:
        report = client.read_status_post(body)
    except PaynowUntrusted as untrusted:
        claimed = wire.fields(wire.parse(body))
        with store.transaction() as uow:
            uow.audit(
                "paynow.status_post_refused",
                "Payment",
                _claimed(claimed, "reference") or "unknown",
                {
                    "reason": str(untrusted),
                    "status": _claimed(claimed, "status"),
                    "paynowreference": _claimed(claimed, "paynowreference"),
                },
            )
        log.warning("refused a Paynow status post: %s", untrusted)
        raise ValidationFailed(
            "the status post does not verify", {untrusted.field: [str(untrusted)]}
        ) from untrusted
    with store.transaction() as uow:
        payment = uow.session.get(Payment, report.reference) if is_cuid(report.reference) else None
        if payment is None:
            log.warning(
                "Paynow posted %s about unknown reference %r", report.status, report.reference
            )
            return {"accepted": False}
        poll_url = payment.poll_url
        if poll_url is None and report.poll_url and client.is_paynow_url(report.poll_url):
            poll_url = report.poll_url
        status = payment.status
    if poll_url is None:
        log.warning(
            "payment %s: status post %s, but no poll URL to confirm it", payment.id, report.status
        )
        return {"accepted": True, "status": status.value}
    try:
        confirmed = poll_and_apply(store, client, payment.id, poll_url, "status post")
    except PaynowError as exc:
        log.warning("payment %s: could not confirm the status post: %s", payment.id, exc)
        # Paynow posts again after an error; the poller also keeps asking.
        raise Unavailable("could not confirm the status with Paynow; post it again") from exc
    assert confirmed is not None  # payments are never deleted
    log.info(
        "payment %s: status post %s, confirmed %s",
        payment.id,
        report.status,
        confirmed.status.value,
    )
    return {"accepted": True, "status": confirmed.status.value}


def check_payment(store: Transactions, client: PaynowClient, payment_id: str) -> dict[str, Any]:
    """Staff: ask Paynow about a payment now and apply the answer."""
    require_staff()
    with store.transaction() as uow:
        payment = uow.session.get(Payment, payment_id) if is_cuid(payment_id) else None
        if payment is None:
            raise NotFound("payment not found", {"payment_id": ["not found"]})
        if payment.poll_url is None:
            raise Conflict(
                "Paynow has no transaction to ask about for this payment",
                {"payment_id": ["no Paynow poll URL"]},
            )
        poll_url = payment.poll_url
    try:
        checked = poll_and_apply(store, client, payment_id, poll_url, "staff check")
    except PaynowError as exc:
        raise Unavailable(f"Paynow did not give a usable answer: {exc}") from exc
    return PaymentSchema().dump(checked)
