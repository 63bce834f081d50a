"""Payments nobody initiates through Paynow: bank transfers and cash CVT staff record by
hand, and account credit billing applied to an invoice at finalization (recorded here so
the payment list explains every cent)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from services.billing.events import CreditApplied
from services.payments.events import PaymentPaid
from services.payments.invoices import PAYABLE, AccountLookup, InvoiceLookup
from services.payments.models import (
    RECORDED_METHODS,
    RECORDED_WHERE,
    Payment,
    PaymentMethod,
    PaymentStatus,
)
from services.payments.schemas import ManualPaymentSchema, PaymentSchema
from shared.authorization import require_staff, require_system
from shared.clock import utcnow
from shared.errors import Conflict
from shared.ids import cuid
from shared.schemas import load
from shared.unit_of_work import Transactions, UnitOfWork

log = logging.getLogger(__name__)


def _reference_taken() -> Conflict:
    return Conflict("a payment with this reference is recorded", {"reference": ["exists"]})


def record_manual_payment(
    store: Transactions,
    organization_id: str,
    data: dict[str, Any],
    invoice_of: InvoiceLookup,
    account_of: AccountLookup,
) -> dict[str, Any]:
    """A received payment: stored PAID, and `payment.paid` tells billing to settle it.

    Billing is asked first (before a transaction opens): an unknown organization, or an
    invoice that is not the organization's, is NotFound here rather than an event billing
    could never settle; a void or paid invoice is a conflict, not silent credit. Money
    without an invoice is explicit (`on_account`) and becomes credit. The bank reference,
    when given, is the payment's identity: entering it twice is a conflict."""
    require_staff()
    fields = load(ManualPaymentSchema(), data)
    invoice_id = fields.get("invoice_id")
    invoice_number = None
    if invoice_id is not None:
        invoice = invoice_of(organization_id, invoice_id)
        billing_account_id = invoice["billing_account_id"]
        invoice_number = invoice.get("invoice_number")
    else:
        billing_account_id = account_of(organization_id)["id"]
    reference = fields.get("reference") or None
    with store.transaction() as uow:
        if reference and uow.session.scalar(
            select(Payment.id).where(
                Payment.billing_account_id == billing_account_id,
                Payment.external_id == reference,
                Payment.method.in_(RECORDED_METHODS),
            )
        ):
            raise _reference_taken()
        # After the reference: the same transfer entered again is named as such, even once
        # its first entry has paid the invoice.
        if invoice_id is not None and invoice["status"] not in PAYABLE:
            raise Conflict(
                f"this invoice is {invoice['status']}: it takes no payment",
                {"invoice_id": [invoice["status"].lower()]},
            )
        payment = Payment(
            organization_id=organization_id,
            billing_account_id=billing_account_id,
            invoice_id=invoice_id,
            invoice_number=invoice_number,
            amount=fields["amount"],
            method=PaymentMethod(fields["method"]),
            status=PaymentStatus.PAID,
            external_id=reference,
            completed_at=utcnow(),
        )
        try:
            with uow.session.begin_nested():
                uow.session.add(payment)
        except IntegrityError:
            raise _reference_taken() from None  # entered twice at the same moment
        uow.audit(
            "payment.recorded",
            "Payment",
            payment.id,
            {"amount": payment.amount, "invoice_id": invoice_id, "method": payment.method.value},
            organization_id=organization_id,
        )
        uow.emit(
            PaymentPaid(
                payment_id=payment.id,
                invoice_id=invoice_id,
                organization_id=organization_id,
                billing_account_id=billing_account_id,
                amount=payment.amount,
                method=payment.method.value,
            )
        )
        return PaymentSchema().dump(payment)


def credit_reference(invoice_id: str) -> str:
    return f"credit:{invoice_id}"


def record_applied_credit(uow: UnitOfWork, event: CreditApplied) -> bool:
    """A CREDIT payment for credit billing applied at finalization; once per invoice (a
    replayed event finds the row). No `payment.paid`: billing has counted it already.
    Returns whether it was new."""
    require_system()
    recorded = uow.session.scalar(
        insert(Payment)
        .values(
            id=cuid(),
            organization_id=event.organization_id,
            billing_account_id=event.billing_account_id,
            invoice_id=event.invoice_id,
            invoice_number=event.invoice_number,
            amount=event.amount,
            method=PaymentMethod.CREDIT,
            status=PaymentStatus.PAID,
            external_id=credit_reference(event.invoice_id),
            completed_at=utcnow(),
        )
        .on_conflict_do_nothing(
            index_elements=["billing_account_id", "external_id"],
            index_where=text(RECORDED_WHERE),
        )
        .returning(Payment.id)
    )
    if recorded is None:
        return False
    uow.audit(
        "payment.credit_recorded",
        "Payment",
        recorded,
        {"amount": event.amount, "invoice_id": event.invoice_id},
        organization_id=event.organization_id,
    )
    return True
