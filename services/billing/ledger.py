"""An account's ledger: every movement of its balance, oldest first, each with the balance
after it, so that the last line's balance is the account's.

What moves the balance, and the line it makes:
    invoice       finalized: minus its total (credit it used moves nothing: the balance
                  already held it)
    payment       the part of a payment that paid its invoice: plus
    over_payment  the part beyond the amount due (or a void or paid invoice's payment),
                  kept as credit: plus
    on_account    a payment without an invoice, all credit: plus
    credit        a credit staff issued: plus
    void          an invoice voided: plus its total

Built in one query (a UNION of those sources, a running SUM over it), paged like any list.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String, cast, func, literal, null, select, union_all

from services.billing.accounts import OrganizationLookup, account_for
from services.billing.models import AppliedPayment, Credit, Invoice, InvoiceStatus
from services.billing.schemas import LedgerQuerySchema
from shared.authorization import VIEW_BILLING, authorize
from shared.pagination import paginate
from shared.schemas import load
from shared.unit_of_work import UnitOfWork

# Lines at the same moment: the charge before the money that pays it.
ORDER = {"invoice": 0, "payment": 1, "over_payment": 2, "on_account": 3, "credit": 4, "void": 5}
# Credit applied when an invoice is finalized is recorded as this payment; it is no money in.
APPLIED_CREDIT_PREFIX = "credit:"


def account_ledger(
    uow: UnitOfWork,
    organization_id: str,
    query: dict[str, Any],
    ask_identity: OrganizationLookup | None = None,
) -> dict[str, Any]:
    """Staff and members who view billing; a deleted organization's ledger stays readable."""
    authorize(organization_id, VIEW_BILLING)
    page = load(LedgerQuerySchema(), query)
    account = account_for(uow, organization_id, ask_identity)
    lines = _lines(account.id).subquery()
    order = (lines.c.at, lines.c.rank, lines.c.row_id)
    statement = select(
        lines, func.sum(lines.c.amount).over(order_by=order, rows=(None, 0)).label("balance")
    ).order_by(*order)
    return paginate(uow.session, statement, page, _line)


def _line(
    at: Any,
    kind: str,
    rank: int,
    row_id: str,
    amount: int,
    invoice_id: str | None,
    invoice_number: str | None,
    payment_id: str | None,
    credit_id: str | None,
    reason: str | None,
    balance: int,
) -> dict[str, Any]:
    return {
        "at": at.isoformat(),
        "kind": kind,
        "amount": amount,
        "balance_after": int(balance),
        "invoice_id": invoice_id,
        "invoice_number": invoice_number,
        "payment_id": payment_id,
        "credit_id": credit_id,
        "description": _describe(kind, invoice_number or invoice_id, payment_id, reason),
    }


def _describe(kind: str, invoice: str | None, payment_id: str | None, reason: str | None) -> str:
    return {
        "invoice": f"Invoice {invoice}",
        "void": f"Invoice {invoice} voided",
        "payment": f"Payment {payment_id} of invoice {invoice}",
        "over_payment": f"Payment {payment_id} beyond what invoice {invoice} owed, kept as credit",
        "on_account": f"Payment {payment_id} on account, kept as credit",
        "credit": f"Credit: {reason}",
    }[kind]


def _text(value: Any) -> Any:
    return cast(value, String) if value is not None else cast(null(), String)


def _lines(account_id: str) -> Any:
    """Columns: at, kind, rank, row_id, amount, invoice_id, invoice_number, payment_id,
    credit_id, reason."""

    def columns(at: Any, kind: str, row_id: Any, amount: Any, **refs: Any) -> list[Any]:
        return [
            at.label("at"),
            literal(kind, String).label("kind"),
            literal(ORDER[kind], Integer).label("rank"),
            cast(row_id, String).label("row_id"),
            cast(amount, Integer).label("amount"),
            *(
                _text(refs.get(name)).label(name)
                for name in ("invoice_id", "invoice_number", "payment_id", "credit_id", "reason")
            ),
        ]

    finalized = (Invoice.billing_account_id == account_id, Invoice.finalized_at.is_not(None))
    money_credit = Credit.__table__.alias("money_credit")
    excess = func.coalesce(money_credit.c.amount, 0)
    applied = AppliedPayment.amount - excess
    invoices = select(
        *columns(
            Invoice.finalized_at,
            "invoice",
            Invoice.id,
            -Invoice.total,
            invoice_id=Invoice.id,
            invoice_number=Invoice.invoice_number,
        )
    ).where(*finalized)
    voids = select(
        *columns(
            func.coalesce(Invoice.voided_at, Invoice.updated_at),
            "void",
            Invoice.id,
            Invoice.total,
            invoice_id=Invoice.id,
            invoice_number=Invoice.invoice_number,
        )
    ).where(*finalized, Invoice.status == InvoiceStatus.VOID)
    payments = (
        select(
            *columns(
                AppliedPayment.applied_at,
                "payment",
                AppliedPayment.payment_id,
                applied,
                invoice_id=Invoice.id,
                invoice_number=Invoice.invoice_number,
                payment_id=AppliedPayment.payment_id,
            )
        )
        .join(Invoice, Invoice.id == AppliedPayment.invoice_id)
        .outerjoin(money_credit, money_credit.c.payment_id == AppliedPayment.payment_id)
        .where(
            *finalized,
            AppliedPayment.payment_id.not_like(f"{APPLIED_CREDIT_PREFIX}%"),
            applied > 0,
        )
    )
    received = (
        select(
            *columns(
                AppliedPayment.applied_at,
                "over_payment",
                Credit.id,
                Credit.amount,
                invoice_id=Invoice.id,
                invoice_number=Invoice.invoice_number,
                payment_id=AppliedPayment.payment_id,
                credit_id=Credit.id,
            )
        )
        .join(AppliedPayment, AppliedPayment.payment_id == Credit.payment_id)
        .join(Invoice, Invoice.id == AppliedPayment.invoice_id)
        .where(Credit.billing_account_id == account_id)
    )
    on_account = (
        select(
            *columns(
                AppliedPayment.applied_at,
                "on_account",
                Credit.id,
                Credit.amount,
                payment_id=AppliedPayment.payment_id,
                credit_id=Credit.id,
            )
        )
        .join(AppliedPayment, AppliedPayment.payment_id == Credit.payment_id)
        .where(Credit.billing_account_id == account_id, AppliedPayment.invoice_id.is_(None))
    )
    credits = select(
        *columns(
            Credit.created_at,
            "credit",
            Credit.id,
            Credit.amount,
            credit_id=Credit.id,
            reason=Credit.reason,
        )
    ).where(Credit.billing_account_id == account_id, Credit.payment_id.is_(None))
    return union_all(invoices, voids, payments, received, on_account, credits)
