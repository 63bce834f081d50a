"""Money in: payments settle invoices (idempotent by payment id), staff issue credits, and
an account that has paid all it owed is reactivated."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from services.billing.accounts import OrganizationLookup, account_for, change_status
from services.billing.events import CreditIssued, InvoicePaid, PaymentApplied
from services.billing.models import (
    AppliedPayment,
    BillingAccount,
    BillingAccountStatus,
    Credit,
    Invoice,
    InvoiceStatus,
    Service,
    ServiceStatus,
)
from services.billing.schemas import CreditCreateSchema, CreditSchema
from services.payments.events import PaymentPaid
from shared import context
from shared.authorization import VIEW_BILLING, authorize, require_staff, require_system
from shared.clock import utcnow
from shared.errors import NotFound, ValidationFailed
from shared.pagination import paginate
from shared.schemas import PageQuerySchema, load
from shared.unit_of_work import UnitOfWork


def settle_payment(uow: UnitOfWork, payment: PaymentPaid) -> str:
    """Count a paid payment once (by payment id): on its invoice up to the amount due, and
    whatever is left (all of it for a payment on account) as a Credit, so the account's
    credits explain its balance. Announces `payment.applied` the first time only.
    Returns what happened (for the log)."""
    require_system()
    if payment.amount <= 0:
        raise ValidationFailed("a payment must be positive", {"amount": ["not positive"]})
    if payment.invoice_id is None:
        return _settle_on_account(uow, payment)
    invoice = uow.session.get(Invoice, payment.invoice_id, with_for_update=True)
    # An invoice of another account is not this payment's: counting it there would move
    # one organization's invoice with another's money.
    if invoice is None or invoice.billing_account_id != payment.billing_account_id:
        raise NotFound("invoice not found", {"invoice_id": ["not found"]})
    if not _record_once(uow, payment, invoice.id):
        return "already counted"
    account = uow.session.get(BillingAccount, invoice.billing_account_id, with_for_update=True)
    account.balance += payment.amount
    payable = invoice.finalized_at is not None and invoice.status not in (
        InvoiceStatus.VOID,
        InvoiceStatus.PAID,
    )
    # Paying a void, draft or already paid invoice only adds credit.
    applied = min(payment.amount, invoice.amount_due) if payable else 0
    if applied:
        invoice.amount_paid += applied
        invoice.amount_due -= applied
        if invoice.amount_due == 0:
            invoice.status, invoice.paid_at = InvoiceStatus.PAID, utcnow()
        elif invoice.status == InvoiceStatus.ISSUED:
            invoice.status = InvoiceStatus.PARTIAL
    credited = payment.amount - applied
    credit_id = (
        _add_credit(uow, account, payment, credited, _excess_reason(invoice, payment))
        if credited
        else None
    )
    uow.audit(
        "payment.applied",
        "Invoice",
        invoice.id,
        {
            "payment_id": payment.payment_id,
            "amount": payment.amount,
            "applied": applied,
            "credited": credited,
            "credit_id": credit_id,
            "status": invoice.status.value,
        },
        organization_id=account.organization_id,
    )
    uow.emit(
        PaymentApplied(
            payment_id=payment.payment_id,
            invoice_id=invoice.id,
            invoice_number=invoice.invoice_number,
            organization_id=account.organization_id,
            method=payment.method,
            amount=payment.amount,
            applied=applied,
            credited=credited,
            amount_due=invoice.amount_due,
            invoice_status=invoice.status.value,
        )
    )
    if applied and invoice.status == InvoiceStatus.PAID:
        uow.emit(
            InvoicePaid(
                invoice_id=invoice.id,
                invoice_number=invoice.invoice_number,
                organization_id=account.organization_id,
                amount_paid=invoice.amount_paid,
            )
        )
    reactivate_if_settled(uow, account)
    return f"invoice {invoice.invoice_number} {invoice.status.value}"


def _settle_on_account(uow: UnitOfWork, payment: PaymentPaid) -> str:
    account = account_for(uow, payment.organization_id, lock=True)
    if account.id != payment.billing_account_id:
        raise NotFound("billing account not found", {"billing_account_id": ["not found"]})
    if not _record_once(uow, payment, None):
        return "already counted"
    account.balance += payment.amount
    reason = f"Payment on account: {payment.method} {payment.payment_id}"
    credit_id = _add_credit(uow, account, payment, payment.amount, reason)
    uow.audit(
        "payment.applied",
        "BillingAccount",
        account.id,
        {"payment_id": payment.payment_id, "amount": payment.amount, "credit_id": credit_id},
        organization_id=account.organization_id,
    )
    uow.emit(
        PaymentApplied(
            payment_id=payment.payment_id,
            organization_id=account.organization_id,
            method=payment.method,
            amount=payment.amount,
            applied=0,
            credited=payment.amount,
            amount_due=0,
        )
    )
    # Credit pays no invoice by itself (finalization uses it), so no reactivation here.
    return f"credited on account ({payment.amount} cents)"


def _record_once(uow: UnitOfWork, payment: PaymentPaid, invoice_id: str | None) -> bool:
    """Whether this is the first time the payment is counted (the row is the proof)."""
    recorded = uow.session.scalar(
        insert(AppliedPayment)
        .values(
            payment_id=payment.payment_id,
            invoice_id=invoice_id,
            amount=payment.amount,
            method=payment.method,
        )
        .on_conflict_do_nothing(index_elements=["payment_id"])
        .returning(AppliedPayment.payment_id)
    )
    return recorded is not None


def _excess_reason(invoice: Invoice, payment: PaymentPaid) -> str:
    paid_with = f"{payment.method} {payment.payment_id}"
    if invoice.status == InvoiceStatus.VOID:
        return f"Payment of void invoice {invoice.invoice_number}: {paid_with}"
    return f"Over-payment of {invoice.invoice_number or invoice.id}: {paid_with}"


def _add_credit(
    uow: UnitOfWork, account: BillingAccount, payment: PaymentPaid, amount: int, reason: str
) -> str:
    """A credit the suite records for money received (the balance is moved by the
    caller, with the payment)."""
    credit = Credit(
        billing_account_id=account.id,
        amount=amount,
        reason=reason,
        payment_id=payment.payment_id,
    )
    uow.session.add(credit)
    uow.session.flush()
    return credit.id


def reactivate_if_settled(uow: UnitOfWork, account: BillingAccount) -> bool:
    # A closed account (organization deleted) has nothing left to reactivate.
    if account.status == BillingAccountStatus.ACTIVE or account.closed_at is not None:
        return False
    still_overdue = uow.session.scalar(
        select(func.count()).where(
            Invoice.billing_account_id == account.id,
            Invoice.status == InvoiceStatus.OVERDUE,
            Invoice.amount_due > 0,
        )
    )
    if still_overdue:
        return False
    # Only what the account's suspension suspended: staff's own suspensions stay.
    services = uow.session.scalars(
        select(Service).where(
            Service.organization_id == account.organization_id,
            Service.status == ServiceStatus.SUSPENDED,
            Service.suspended_with_account.is_(True),
        )
    ).all()
    reactivated = 0
    for service in services:
        # A terminal re-leased elsewhere meanwhile stays suspended here: staff decide.
        if service.hardware_serial and uow.session.scalar(
            select(func.count()).where(
                Service.hardware_serial == service.hardware_serial,
                Service.status == ServiceStatus.ACTIVE,
            )
        ):
            continue
        service.status, service.suspended_at = ServiceStatus.ACTIVE, None
        service.suspended_with_account = False
        reactivated += 1
    change_status(uow, account, BillingAccountStatus.ACTIVE, services=reactivated)
    return True


def issue_credit(
    uow: UnitOfWork,
    organization_id: str,
    data: dict[str, Any],
    ask_identity: OrganizationLookup | None = None,
) -> dict[str, Any]:
    """Staff: a correction in the client's favour; used on their next invoices."""
    ctx = require_staff()
    fields = load(CreditCreateSchema(), data)
    account = account_for(uow, organization_id, ask_identity, lock=True, open_only=True)
    credit = Credit(
        billing_account_id=account.id,
        amount=fields["amount"],
        reason=fields["reason"],
        issued_by_id=ctx.actor_id if ctx.actor_type == context.USER else None,
    )
    uow.session.add(credit)
    account.balance += credit.amount
    uow.session.flush()
    uow.audit(
        "credit.issued",
        "Credit",
        credit.id,
        {"amount": credit.amount, "reason": credit.reason},
        organization_id=organization_id,
    )
    uow.emit(
        CreditIssued(credit_id=credit.id, organization_id=organization_id, amount=credit.amount)
    )
    return CreditSchema().dump(credit)


def list_credits(
    uow: UnitOfWork,
    organization_id: str,
    query: dict[str, Any],
    ask_identity: OrganizationLookup | None = None,
) -> dict[str, Any]:
    """Credits issued to the organization, newest first."""
    authorize(organization_id, VIEW_BILLING)
    page = load(PageQuerySchema(), query)
    account = account_for(uow, organization_id, ask_identity)
    statement = (
        select(Credit)
        .where(Credit.billing_account_id == account.id)
        .order_by(Credit.created_at.desc(), Credit.id)
    )
    return paginate(uow.session, statement, page, CreditSchema().dump)
