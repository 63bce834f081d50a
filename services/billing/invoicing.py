"""Monthly invoices: one invoice per billing account and period, finalized at once.

Money rules: every amount is integer cents; a service's monthly fee is prorated by days
(`fee x days billed / days in the month`), usage is `max(0, quantity - included) x unit
price`, tax is `subtotal x rate / 10,000`; each rounded once, half away from zero
(shared.money). A service is billed from the day it was activated (inclusive) to the day
it was cancelled or suspended (exclusive), within the period, in UTC days.

Crash safety: the draft invoice is committed first (one per account and period: a unique
constraint), usage is claimed for it from metering (idempotent per invoice), and the
lines, number and totals are written in one final transaction. Billing every account for
a month is a job (`billing_runs`), which does the same in batches; repeated, or worked on
by several billing instances at once, it creates nothing twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, not_, select, update
from sqlalchemy.dialects.postgresql import insert

from services.billing import settings
from services.billing.accounts import OrganizationLookup, account_for
from services.billing.catalog import Terms, next_month_start, terms_at
from services.billing.events import CreditApplied, InvoiceIssued, InvoiceVoided
from services.billing.models import (
    AppliedPayment,
    BillingAccount,
    Invoice,
    InvoiceLineItem,
    InvoiceNumberSequence,
    InvoiceStatus,
    Service,
)
from services.billing.schemas import (
    InvoiceAdminQuerySchema,
    InvoiceDetailSchema,
    InvoiceQuerySchema,
    InvoiceSchema,
)
from services.billing.settlement import reactivate_if_settled
from shared.authorization import VIEW_BILLING, authorize, require_staff, require_system
from shared.clock import utcnow
from shared.errors import Conflict, NotFound
from shared.ids import cuid, is_cuid
from shared.money import prorate, round_cents
from shared.pagination import paginate
from shared.schemas import load
from shared.tokens import new_secret
from shared.unit_of_work import Transactions, UnitOfWork

log = logging.getLogger(__name__)

NOTHING_TO_BILL = {"result": "nothing to bill", "invoice_number": None}
# What is still owed on.
PAYABLE = (InvoiceStatus.ISSUED, InvoiceStatus.PARTIAL, InvoiceStatus.OVERDUE)
ClaimUsage = Callable[[str, str, str], dict[str, int]]
ReleaseUsage = Callable[[str], int]


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    @classmethod
    def month(cls, text: str) -> Period:
        year, month = (int(part) for part in text.split("-"))
        start = datetime(year, month, 1, tzinfo=UTC)
        return cls(start, next_month_start(start))

    @property
    def days(self) -> int:
        """The days of its calendar month: a final part period (organization deleted) is
        prorated against the whole month, like any service that stops mid-month."""
        return (next_month_start(self.start).date() - self.start.date()).days

    @property
    def label(self) -> str:
        return self.start.strftime("%Y-%m")


def previous_month(today: datetime) -> Period:
    first = today.astimezone(UTC).replace(day=1)
    return Period.month((first - timedelta(days=1)).strftime("%Y-%m"))


@dataclass(frozen=True)
class Line:
    description: str
    quantity: int
    unit_price: int
    service_id: str | None = None

    @property
    def total(self) -> int:
        return self.quantity * self.unit_price


def service_lines(
    services: list[Service], period: Period, terms: Mapping[str, Terms] | None = None
) -> list[Line]:
    """`terms`: each service's terms for the period (default: its latest agreed)."""
    lines = []
    for service in services:
        fee, name = (
            (terms[service.id].monthly_fee, terms[service.id].name)
            if terms is not None and service.id in terms
            else (service.monthly_fee, service.name)
        )
        start = max(service.activated_at, period.start)
        stops = [period.end]
        if service.cancelled_at is not None:
            stops.append(service.cancelled_at)
        # Still set on a service cancelled while suspended: its bill stopped then.
        if service.suspended_at is not None:
            stops.append(service.suspended_at)
        stop = min(stops)
        days = (stop.date() - start.date()).days if stop > start else 0
        if days <= 0:
            continue
        amount = prorate(fee, days, period.days)
        suffix = "" if days == period.days else f", {days} of {period.days} days"
        description = f"{name} ({service.type.value.replace('_', ' ').lower()}{suffix})"
        lines.append(Line(description, 1, amount, service.id))
    return lines


def usage_lines(usage: dict[str, int], prices: dict[str, dict[str, int]]) -> list[Line]:
    lines = []
    for event_type in sorted(usage):
        price = prices.get(event_type)
        if price is None or usage[event_type] <= 0:
            continue
        included = price.get("included", 0)
        billable = max(0, usage[event_type] - included)
        description = f"Usage: {event_type}, {usage[event_type]:,} ({included:,} included)"
        lines.append(Line(description, billable, price["unit_price"]))
    return lines


def tax_on(subtotal: int, basis_points: int) -> int:
    return round_cents(Decimal(subtotal) * basis_points / 10_000)


def invoice_account(
    store: Transactions,
    account_id: str,
    organization_id: str,
    period: Period,
    claim_usage: ClaimUsage,
    release_usage: ReleaseUsage,
) -> dict[str, Any]:
    with store.transaction() as uow:
        invoice_id = uow.session.scalar(
            insert(Invoice)
            .values(
                id=cuid(),
                billing_account_id=account_id,
                period_start=period.start,
                period_end=period.end,
                subtotal=0,
                total=0,
                amount_due=0,
            )
            .on_conflict_do_nothing(index_elements=["billing_account_id", "period_start"])
            .returning(Invoice.id)
        ) or uow.session.scalar(
            select(Invoice.id).where(
                Invoice.billing_account_id == account_id, Invoice.period_start == period.start
            )
        )
        existing = uow.session.get(Invoice, invoice_id) if invoice_id else None
        if existing is None:  # a concurrent run found nothing to bill and removed its draft
            return NOTHING_TO_BILL
        if existing.finalized_at is not None:
            return {"result": "already invoiced", "invoice_number": existing.invoice_number}
    usage = claim_usage(organization_id, period.end.isoformat(), invoice_id)
    with store.transaction() as uow:
        invoice = uow.session.get(Invoice, invoice_id, with_for_update=True)
        if invoice is None:
            return NOTHING_TO_BILL
        if invoice.finalized_at is not None:  # another instance got there first
            return {"result": "already invoiced", "invoice_number": invoice.invoice_number}
        # Locked before the services are read: a closing (organization deleted) is either
        # all seen here or waited for.
        account = uow.session.get(BillingAccount, account_id, with_for_update=True)
        period = within_account_life(period, account.closed_at)
        if period is not None:
            invoice.period_end = period.end
            services = uow.session.scalars(
                select(Service).where(
                    Service.organization_id == organization_id, Service.activated_at < period.end
                )
            ).all()
            lines = service_lines(
                list(services), period, terms_at(uow, services, period.start)
            ) + usage_lines(usage, settings.price_table(uow))
        else:
            lines = []
        if not lines:
            nothing_to_bill = True
        else:
            nothing_to_bill = False
            finalize_invoices(uow, [Draft(invoice, account, lines)], InvoiceTerms.current(uow))
            announce(uow, invoice, account)
            number = invoice.invoice_number
    if nothing_to_bill:
        release_usage(invoice_id)
        with store.transaction() as uow:
            uow.session.execute(
                delete(Invoice).where(Invoice.id == invoice_id, Invoice.finalized_at.is_(None))
            )
        return NOTHING_TO_BILL
    return {"result": "invoiced", "invoice_number": number}


def within_account_life(period: Period, closed_at: datetime | None) -> Period | None:
    """The part of `period` the account was open: all of it, up to its closing in the
    month it closed, None after."""
    if closed_at is None or period.end <= closed_at:
        return period
    if period.start > month_start(closed_at):
        return None
    return Period(period.start, max(period.start, closed_at))


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def final_invoice(
    store: Transactions,
    account_id: str,
    organization_id: str,
    closed_at: datetime,
    claim_usage: ClaimUsage,
    release_usage: ReleaseUsage,
) -> dict[str, Any]:
    """The invoice of a closed account's last, part month: from the month's first day to
    the closing, with the usage recorded until then. Idempotent like any period's."""
    period = Period(month_start(closed_at), closed_at)
    return invoice_account(store, account_id, organization_id, period, claim_usage, release_usage)


def next_numbers(uow: UnitOfWork, year: int, count: int) -> list[str]:
    """`count` consecutive numbers of `year`. The sequence row stays locked until the
    transaction ends, so numbers are unique and gapless; a batch takes all of its numbers
    in one statement."""
    uow.session.execute(
        insert(InvoiceNumberSequence)
        .values(year=year, last_number=0)
        .on_conflict_do_nothing(index_elements=["year"])
    )
    last = uow.session.execute(
        update(InvoiceNumberSequence)
        .where(InvoiceNumberSequence.year == year)
        .values(last_number=InvoiceNumberSequence.last_number + count)
        .returning(InvoiceNumberSequence.last_number)
    ).scalar_one()
    return [f"INV-{year}-{number:06d}" for number in range(last - count + 1, last + 1)]


@dataclass(frozen=True)
class InvoiceTerms:
    """The settings every invoice finalized together is made with."""

    tax_rate_basis_points: int
    due_days: int
    payment_link_days: int

    @classmethod
    def current(cls, uow: UnitOfWork) -> InvoiceTerms:
        return cls(
            settings.int_setting(uow, settings.TAX_RATE_BASIS_POINTS),
            settings.int_setting(uow, settings.INVOICE_DUE_DAYS),
            settings.int_setting(uow, settings.PAYMENT_LINK_DAYS),
        )


@dataclass(frozen=True)
class Draft:
    """A draft invoice about to be finalized: locked, with its account (locked) and lines."""

    invoice: Invoice
    account: BillingAccount
    lines: list[Line]


def finalize_invoices(uow: UnitOfWork, drafts: list[Draft], terms: InvoiceTerms) -> None:
    """Number, total and issue the drafts in one go: their line items in one insert, their
    numbers in one allocation (in the drafts' order), account credit applied. Audit rows
    and events are `announce`'s, so that a caller can roll this back to a savepoint."""
    if not drafts:
        return
    ids = [draft.invoice.id for draft in drafts]
    uow.session.execute(delete(InvoiceLineItem).where(InvoiceLineItem.invoice_id.in_(ids)))
    # Before the invoices are marked final: a finalized invoice's lines never change.
    uow.session.execute(
        insert(InvoiceLineItem),
        [
            {
                "id": cuid(),
                "invoice_id": draft.invoice.id,
                "description": line.description,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "total": line.total,
                "service_id": line.service_id,
            }
            for draft in drafts
            for line in draft.lines
        ],
    )
    now = utcnow()
    numbers = next_numbers(uow, now.year, len(drafts))
    for draft, number in zip(drafts, numbers, strict=True):
        invoice, account = draft.invoice, draft.account
        invoice.subtotal = sum(line.total for line in draft.lines)
        invoice.tax = tax_on(invoice.subtotal, terms.tax_rate_basis_points)
        invoice.total = invoice.subtotal + invoice.tax
        invoice.invoice_number = number
        invoice.issued_at = now
        invoice.due_at = now + timedelta(days=terms.due_days)
        invoice.payment_token = new_secret()
        invoice.payment_token_expires_at = now + timedelta(days=terms.payment_link_days)
        credit = min(max(0, account.balance), invoice.total)
        if credit:
            uow.session.add(
                AppliedPayment(
                    payment_id=f"credit:{invoice.id}",
                    invoice_id=invoice.id,
                    amount=credit,
                    method="CREDIT",
                )
            )
        invoice.amount_paid = credit
        invoice.amount_due = invoice.total - credit
        if invoice.amount_due == 0:
            invoice.status, invoice.paid_at = InvoiceStatus.PAID, now
        else:
            invoice.status = InvoiceStatus.PARTIAL if credit else InvoiceStatus.ISSUED
        account.balance -= invoice.total
        invoice.finalized_at = now
    uow.session.flush()


def announce(uow: UnitOfWork, invoice: Invoice, account: BillingAccount) -> None:
    """The audit row and events of an invoice `finalize_invoices` issued."""
    credit = invoice.amount_paid
    uow.audit(
        "invoice.issued",
        "Invoice",
        invoice.id,
        {"number": invoice.invoice_number, "total": invoice.total, "credit_applied": credit},
        organization_id=account.organization_id,
    )
    uow.emit(
        InvoiceIssued(
            invoice_id=invoice.id,
            invoice_number=invoice.invoice_number,
            organization_id=account.organization_id,
            billing_account_id=account.id,
            total=invoice.total,
            amount_due=invoice.amount_due,
            due_at=invoice.due_at.isoformat(),
        )
    )
    if credit:
        uow.emit(
            CreditApplied(
                invoice_id=invoice.id,
                invoice_number=invoice.invoice_number,
                organization_id=account.organization_id,
                billing_account_id=account.id,
                amount=credit,
            )
        )


def void_invoice(uow: UnitOfWork, invoice_id: str) -> dict[str, Any]:
    """Staff: cancel an unpaid finalized invoice. It stays on record, marked VOID."""
    require_staff()
    invoice = (
        uow.session.get(Invoice, invoice_id, with_for_update=True) if is_cuid(invoice_id) else None
    )
    if invoice is None:
        raise NotFound("invoice not found", {"invoice_id": ["not found"]})
    if invoice.finalized_at is None or invoice.status == InvoiceStatus.VOID:
        raise Conflict(f"a {invoice.status.value} invoice cannot be voided")
    if invoice.amount_paid:
        raise Conflict("a paid or partly paid invoice cannot be voided; issue a credit instead")
    account = uow.session.get(BillingAccount, invoice.billing_account_id, with_for_update=True)
    invoice.status = InvoiceStatus.VOID
    invoice.amount_due = 0
    invoice.voided_at = utcnow()
    account.balance += invoice.total
    uow.audit(
        "invoice.voided",
        "Invoice",
        invoice.id,
        {"number": invoice.invoice_number},
        organization_id=account.organization_id,
    )
    uow.emit(InvoiceVoided(invoice_id=invoice.id, organization_id=account.organization_id))
    reactivate_if_settled(uow, account)
    return InvoiceSchema().dump(invoice)


def list_invoices(
    uow: UnitOfWork,
    organization_id: str,
    query: dict[str, Any],
    ask_identity: OrganizationLookup | None = None,
) -> dict[str, Any]:
    authorize(organization_id, VIEW_BILLING)
    page = load(InvoiceQuerySchema(), query)
    account = account_for(uow, organization_id, ask_identity)
    statement = select(Invoice).where(
        Invoice.billing_account_id == account.id, Invoice.finalized_at.is_not(None)
    )
    if page.get("status"):
        statement = statement.where(Invoice.status == InvoiceStatus(page["status"]))
    statement = statement.order_by(Invoice.period_start.desc(), Invoice.id)
    return paginate(uow.session, statement, page, InvoiceSchema().dump)


def list_all_invoices(uow: UnitOfWork, query: dict[str, Any]) -> dict[str, Any]:
    """Staff: finalized invoices of every organization, newest period first. `overdue`:
    past the due date with something still due, whether or not the overdue run has
    marked it yet (true), or the others (false)."""
    require_staff()
    page = load(InvoiceAdminQuerySchema(), query)
    statement = select(Invoice, BillingAccount.organization_id).join(
        BillingAccount, BillingAccount.id == Invoice.billing_account_id
    )
    statement = statement.where(Invoice.finalized_at.is_not(None))
    if page.get("status"):
        statement = statement.where(Invoice.status == InvoiceStatus(page["status"]))
    if page.get("period"):
        statement = statement.where(Invoice.period_start == Period.month(page["period"]).start)
    if page.get("organization_id"):
        statement = statement.where(BillingAccount.organization_id == page["organization_id"])
    if "overdue" in page:
        late = and_(Invoice.status.in_(PAYABLE), Invoice.amount_due > 0, Invoice.due_at < utcnow())
        statement = statement.where(late if page["overdue"] else not_(late))
    statement = statement.order_by(
        Invoice.period_start.desc(), Invoice.issued_at.desc(), Invoice.id
    )
    schema = InvoiceSchema()  # InvoiceAdminSchema: each with its organization
    return paginate(
        uow.session,
        statement,
        page,
        lambda invoice, organization_id: {
            **schema.dump(invoice),
            "organization_id": organization_id,
        },
    )


def get_invoice(
    uow: UnitOfWork,
    organization_id: str,
    invoice_id: str,
    ask_identity: OrganizationLookup | None = None,
) -> dict[str, Any]:
    authorize(organization_id, VIEW_BILLING)
    account = account_for(uow, organization_id, ask_identity)
    invoice = uow.session.get(Invoice, invoice_id) if is_cuid(invoice_id) else None
    if invoice is None or invoice.billing_account_id != account.id or invoice.finalized_at is None:
        raise NotFound("invoice not found", {"invoice_id": ["not found"]})
    return invoice_detail(invoice, InvoiceDetailSchema())


def invoice_detail(invoice: Invoice, schema: InvoiceDetailSchema) -> dict[str, Any]:
    detail = schema.dump(invoice)
    detail["line_items"] = sorted(detail["line_items"], key=lambda item: item["description"])
    return detail


def payment_token(uow: UnitOfWork, invoice_id: str) -> str | None:
    """The token of an issued invoice's payment link, for the email notifications sends
    (the suite only), so that no event carries it; None once the invoice is void."""
    require_system()
    invoice = uow.session.get(Invoice, invoice_id) if is_cuid(invoice_id) else None
    if invoice is None or invoice.finalized_at is None:
        raise NotFound("invoice not found", {"invoice_id": ["not found"]})
    return None if invoice.status == InvoiceStatus.VOID else invoice.payment_token


# What `shared.tokens.new_secret` makes: 32 random bytes, URL-safe base64 without padding.
# Anything else is no token of ours, refused before it reaches the database.
PAYMENT_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
# The payer is shown the invoice, not its link's token and expiry again.
HIDDEN_FROM_PAYERS = ("payment_token", "payment_token_expires_at")


def invoice_for_payment_link(uow: UnitOfWork, token: str) -> dict[str, Any]:
    """The invoice a payment link is for, and whether it can be paid now. No caller is
    checked: whoever holds the token (the emailed link) may see and pay the invoice."""
    invoice = (
        uow.session.scalar(select(Invoice).where(Invoice.payment_token == token))
        if isinstance(token, str) and PAYMENT_TOKEN.fullmatch(token)
        else None
    )
    if invoice is None or invoice.finalized_at is None:
        raise NotFound("payment link not found", {"token": ["not found"]})
    account = uow.session.get(BillingAccount, invoice.billing_account_id)
    return {
        "organization_id": account.organization_id,
        "billing_account_id": account.id,
        "state": payment_link_state(invoice, utcnow()),
        "invoice": invoice_detail(invoice, InvoiceDetailSchema(exclude=HIDDEN_FROM_PAYERS)),
    }


def payment_link_state(invoice: Invoice, now: datetime) -> str:
    if invoice.status == InvoiceStatus.VOID:
        return "void"
    if invoice.status == InvoiceStatus.PAID or invoice.amount_due <= 0:
        return "paid"
    expires_at = invoice.payment_token_expires_at
    if expires_at is not None and expires_at < now:
        return "expired"
    return "payable"
