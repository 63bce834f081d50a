"""The poller: asks Paynow about pending payments, so a lost status post still settles,
and cancels attempts pending past their expiry (`services.payments.settings`).

Every replica runs it. A pass first claims due payments in one short transaction
(`FOR UPDATE SKIP LOCKED`, moving each one's next poll forward before the commit), so two
replicas never poll the same payment; then it polls each one with no transaction open
and applies the answer in a transaction of its own, so a slow Paynow answer holds no
locks and delays no other payment's commit.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from sqlalchemy import or_, select

from services.payments import settings
from services.payments.models import PAYNOW_METHODS, Payment, PaymentStatus
from services.payments.paynow import PaynowClient, PaynowError
from services.payments.status import (
    apply_report,
    expire_if_due,
    lock,
    note_poll,
)
from shared.authorization import require_system
from shared.clock import utcnow
from shared.unit_of_work import Transactions

log = logging.getLogger(__name__)

# Payments claimed per pass; the rest wait for the next pass (oldest first).
BATCH = 50


def claim_due(
    store: Transactions, now: datetime, batch: int = BATCH
) -> list[tuple[str, str | None]]:
    """(payment id, poll URL) of the pending payments due for a poll or past expiry."""
    with store.transaction() as uow:
        expired_before = now - settings.payment_expiry(uow)
        due = uow.session.scalars(
            select(Payment)
            .where(
                Payment.status == PaymentStatus.PENDING,
                Payment.method.in_(PAYNOW_METHODS),
                or_(Payment.next_poll_at <= now, Payment.initiated_at <= expired_before),
            )
            .order_by(Payment.initiated_at, Payment.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        for payment in due:
            note_poll(payment, now)
        return [(payment.id, payment.poll_url) for payment in due]


def poll_pending_payments(store: Transactions, client: PaynowClient) -> dict[str, int]:
    """One pass; returns how many payments ended how (for the log)."""
    require_system()
    outcomes: Counter[str] = Counter()
    for payment_id, poll_url in claim_due(store, utcnow()):
        report = None
        if poll_url is not None:
            try:
                report = client.poll(poll_url)
            except PaynowError as exc:
                log.warning("payment %s: poll failed: %s", payment_id, exc)
                outcomes["unanswered"] += 1
        with store.transaction() as uow:
            payment = lock(uow, payment_id)
            if payment is None:
                continue
            if report is not None:
                apply_report(uow, payment, report, "poller", poll_url or "")
            # The last poll (if any) did not say paid: an attempt this old is abandoned.
            # Should Paynow confirm it later after all, it still counts (see status.py).
            expire_if_due(uow, payment, utcnow(), "poller")
            if payment.status != PaymentStatus.PENDING:
                payment.next_poll_at = None
            outcomes[payment.status.value] += 1
    if outcomes:
        log.info("Paynow poll: %s", dict(outcomes))
    return dict(outcomes)
