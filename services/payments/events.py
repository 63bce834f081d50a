"""The events payments publishes. Contracts only: this module imports nothing but
`shared.events` (see there)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import Cents, Event


class PaymentEvent(Event):
    source = "payments"


@dataclass(frozen=True, kw_only=True)
class PaymentPaid(PaymentEvent):
    """A payment is confirmed: recorded by staff (bank transfer, cash), or paid through
    Paynow (confirmed by a poll). Once per payment, even if Paynow confirms it late.
    `invoice_id` is null for a payment on account, which becomes credit."""

    event_type = "payment.paid"

    payment_id: str
    invoice_id: str | None
    organization_id: str
    billing_account_id: str
    amount: Cents
    method: str


@dataclass(frozen=True, kw_only=True)
class PaymentFailed(PaymentEvent):
    """A Paynow payment ended without money: refused at initiation or failed (FAILED),
    cancelled by the payer or expired unpaid (CANCELLED). `reason` says which."""

    event_type = "payment.failed"

    payment_id: str
    invoice_id: str | None
    organization_id: str
    billing_account_id: str
    amount: Cents
    method: str
    status: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class PaynowChargeback(PaymentEvent):
    """What a dispute and a refund carry (not an event itself). The payment stays PAID:
    the money is not moved back by itself; support acts on it."""

    payment_id: str
    invoice_id: str | None
    organization_id: str
    billing_account_id: str
    amount: Cents
    method: str
    paynow_reference: str


@dataclass(frozen=True, kw_only=True)
class PaymentDisputed(PaynowChargeback):
    """The payer disputed a paid Paynow payment."""

    event_type = "payment.disputed"


@dataclass(frozen=True, kw_only=True)
class PaymentRefunded(PaynowChargeback):
    """Paynow refunded a paid payment to the payer."""

    event_type = "payment.refunded"
