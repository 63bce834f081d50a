"""Payments CVT staff record by hand: bank transfers and cash. (Paynow follows.)"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.payments.models import Payment, PaymentMethod, PaymentStatus
from services.payments.schemas import ManualPaymentSchema, PaymentSchema
from shared.authorization import require_staff
from shared.clock import utcnow
from shared.errors import Conflict
from shared.schemas import load
from shared.unit_of_work import UnitOfWork


def record_manual_payment(
    uow: UnitOfWork, organization_id: str, billing_account_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    """A received payment: stored PAID, and `payment.paid` tells billing to settle it.
    The bank reference, when given, is the payment's identity: entering it twice is a
    conflict, not a second payment."""
    require_staff()
    fields = load(ManualPaymentSchema(), data)
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
        "payment.paid",
        {
            "payment_id": payment.id,
            "invoice_id": payment.invoice_id,
            "organization_id": organization_id,
            "billing_account_id": billing_account_id,
            "amount": payment.amount,
            "method": payment.method.value,
        },
    )
    return PaymentSchema().dump(payment)
