"""The events payments publishes. Contracts only: this module imports nothing but
`shared.events` (see there)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import Cents, Event


@dataclass(frozen=True, kw_only=True)
class PaymentPaid(Event):
    """A payment is confirmed (today: recorded by staff, by bank transfer or cash)."""

    source = "payments"
    event_type = "payment.paid"

    payment_id: str
    invoice_id: str
    organization_id: str
    billing_account_id: str
    amount: Cents
    method: str
