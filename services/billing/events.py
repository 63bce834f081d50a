"""The events billing publishes. Contracts only: this module imports nothing but
`shared.events` (see there)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import Cents, Event, Timestamp


class BillingEvent(Event):
    source = "billing"


@dataclass(frozen=True, kw_only=True)
class BillingAccountOpened(BillingEvent):
    """A billing account is opened for an organization."""

    event_type = "billing_account.opened"

    billing_account_id: str
    organization_id: str


@dataclass(frozen=True, kw_only=True)
class InvoiceIssued(BillingEvent):
    """An invoice is finalized. Its payment link's token is not here: notifications asks
    billing for it (`payment_token`) right before it sends the email."""

    event_type = "invoice.issued"

    invoice_id: str
    invoice_number: str
    organization_id: str
    billing_account_id: str
    total: Cents
    amount_due: Cents
    due_at: Timestamp


@dataclass(frozen=True, kw_only=True)
class InvoicePaid(BillingEvent):
    """An invoice is fully paid."""

    event_type = "invoice.paid"

    invoice_id: str
    invoice_number: str
    organization_id: str
    amount_paid: Cents


@dataclass(frozen=True, kw_only=True)
class PaymentApplied(BillingEvent):
    """A paid payment is counted, once: `applied` to its invoice, `credited` to the
    account as credit (a payment on account, or what exceeded the amount due). Without an
    invoice (on account) the invoice fields are null and `amount_due` is 0; otherwise
    `amount_due` is what remains on the invoice and `invoice_status` its status now."""

    event_type = "payment.applied"

    payment_id: str
    invoice_id: str | None = None
    invoice_number: str | None = None
    organization_id: str
    method: str
    amount: Cents
    applied: Cents
    credited: Cents
    amount_due: Cents
    invoice_status: str | None = None


@dataclass(frozen=True, kw_only=True)
class CreditApplied(BillingEvent):
    """Account credit paid (part of) an invoice when it was finalized. The payments
    service records it as a CREDIT payment, so the payment list explains every cent."""

    event_type = "credit.applied"

    invoice_id: str
    invoice_number: str
    organization_id: str
    billing_account_id: str
    amount: Cents


@dataclass(frozen=True, kw_only=True)
class InvoiceVoided(BillingEvent):
    """Staff void an unpaid invoice; it stays on record."""

    event_type = "invoice.voided"

    invoice_id: str
    organization_id: str


@dataclass(frozen=True, kw_only=True)
class CreditIssued(BillingEvent):
    """Staff issue a credit in an organization's favour."""

    event_type = "credit.issued"

    credit_id: str
    organization_id: str
    amount: Cents


@dataclass(frozen=True, kw_only=True)
class AccountStatusChanged(BillingEvent):
    """What every transition of a billing account carries (not an event itself)."""

    billing_account_id: str
    organization_id: str


@dataclass(frozen=True, kw_only=True)
class BillingAccountOverdue(AccountStatusChanged):
    """An invoice of the account went past its due date."""

    event_type = "billing_account.overdue"


@dataclass(frozen=True, kw_only=True)
class BillingAccountSuspended(AccountStatusChanged):
    """The account is past due beyond its grace period: its terminals are refused."""

    event_type = "billing_account.suspended"


@dataclass(frozen=True, kw_only=True)
class BillingAccountReactivated(AccountStatusChanged):
    """Everything overdue is paid: the account and its services are active again."""

    event_type = "billing_account.reactivated"


@dataclass(frozen=True, kw_only=True)
class BillingRunStarted(BillingEvent):
    """Staff (or the hourly schedule) started a billing run: the billing instance that
    gets this starts working on it at once; the others join it at their next poll."""

    event_type = "billing_run.started"

    run_id: str
    period: str
    total: int
