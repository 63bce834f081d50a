"""Payments CVT staff record by hand: bank transfers and cash. (Paynow follows.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from services.payments.events import PaymentPaid
from services.payments.models import Payment, PaymentMethod, PaymentStatus
from services.payments.schemas import ManualPaymentSchema, PaymentSchema
from shared.authorization import require_staff
from shared.clock import utcnow
from shared.errors import Conflict
from shared.rpc import call
from shared.schemas import load
from shared.unit_of_work import UnitOfWork

InvoiceLookup = Callable[[str, str], dict[str, Any]]
"""Billing's invoice `(organization_id, invoice_id)`, or NotFound naming what is unknown."""

# Below the gateway's RPC deadline (10 s): a payment the caller was told failed (503) must
# not be recorded afterwards by a worker still waiting on billing.
BILLING_TIMEOUT_SECONDS = 8.0


def invoice_from_billing(billing: Any, organization_id: str, invoice_id: str) -> dict[str, Any]:
    """Ask billing (an RpcProxy) for the organization's invoice, with a deadline."""
    return call(billing.get_invoice, organization_id, invoice_id, timeout=BILLING_TIMEOUT_SECONDS)


def record_manual_payment(
    uow: UnitOfWork, organization_id: str, data: dict[str, Any], invoice_of: InvoiceLookup
) -> dict[str, Any]:
    """A received payment: stored PAID, and `payment.paid` tells billing to settle it.

    Billing is asked first (before this transaction touches the database): an unknown
    organization, or an invoice that is not the organization's, is NotFound here rather
    than an event billing could never settle. The bank reference, when given, is the
    payment's identity: entering it twice is a conflict, not a second payment."""
    require_staff()
    fields = load(ManualPaymentSchema(), data)
    billing_account_id = invoice_of(organization_id, fields["invoice_id"])["billing_account_id"]
    reference = fields.get("reference")
    if reference and uow.session.scalar(
        select(Payment.id).where(
            Payment.billing_account_id == billing_account_id, Payment.external_id == reference
        )
    ):
        raise Conflict("a payment with this reference is recorded", {"reference": ["exists"]})
    now = utcnow()
    payment = Payment(
        billing_account_id=billing_account_id,
        invoice_id=fields["invoice_id"],
        amount=fields["amount"],
        method=PaymentMethod(fields["method"]),
        status=PaymentStatus.PAID,
        external_id=reference,
        external_status="RECORDED_BY_STAFF",
        completed_at=now,
    )
    uow.session.add(payment)
    uow.session.flush()
    uow.audit("payment.recorded", "Payment", payment.id, {"amount": payment.amount})
    uow.emit(
        PaymentPaid(
            payment_id=payment.id,
            invoice_id=payment.invoice_id,
            organization_id=organization_id,
            billing_account_id=billing_account_id,
            amount=payment.amount,
            method=payment.method.value,
        )
    )
    return PaymentSchema().dump(payment)
