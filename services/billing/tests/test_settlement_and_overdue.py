"""Money in and money owed: payments settle finalized invoices once, the overdue run moves
accounts to OVERDUE and SUSPENDED and payment brings them back, staff credits, hardware
serials, and the database's guard on finalized invoices.

Finalized invoices are written directly, finalized in one INSERT as the billing run leaves
them (the trigger forbids finalizing one afterwards). The database is shared by the whole
run: every organization is new, and the overdue run, which sees every account, is only
asked about dates in 1999, when nothing but this module's overdue invoices fall due.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from services.billing import catalog, invoicing, overdue, settlement
from services.billing.models import (
    AppliedPayment,
    BillingAccount,
    BillingAccountStatus,
    Credit,
    Invoice,
    InvoiceLineItem,
    InvoiceStatus,
    Service,
    ServiceStatus,
    ServiceType,
)
from services.payments.events import PaymentPaid
from shared.authorization import MemberRole
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.ids import cuid
from shared.tokens import new_secret
from shared.unit_of_work import UnitOfWork

UnitOfWorkFactory = Callable[[str], AbstractContextManager[UnitOfWork]]

# The database is fresh for each run and nothing else numbers invoices in 1999.
_invoice_numbers = itertools.count(1)

TOTAL = 10_000


# --- arranging accounts, invoices and services ------------------------------------------------


def make_account(unit_of_work: UnitOfWorkFactory, *, grace_period_days: int = 14) -> BillingAccount:
    with unit_of_work("billing") as uow:
        account = BillingAccount(organization_id=cuid(), grace_period_days=grace_period_days)
        uow.session.add(account)
    return account


def make_invoice(
    unit_of_work: UnitOfWorkFactory,
    account: BillingAccount,
    *,
    total: int = TOTAL,
    issued_at: datetime | None = None,
    due_days: int = 14,
    link_expires_at: datetime | None = None,
) -> str:
    """A finalized, unpaid invoice of `account`; the account owes its total, as after the
    billing run. Its payment link works for 60 days unless `link_expires_at` says."""
    number = next(_invoice_numbers)
    issued_at = issued_at or utcnow()
    period_start = datetime(1999, 1, 1, tzinfo=UTC) + timedelta(days=number)
    with unit_of_work("billing") as uow:
        invoice = Invoice(
            billing_account_id=account.id,
            invoice_number=f"INV-1999-{number:06d}",
            period_start=period_start,
            period_end=period_start + timedelta(days=30),
            subtotal=total,
            tax=0,
            total=total,
            amount_paid=0,
            amount_due=total,
            status=InvoiceStatus.ISSUED,
            issued_at=issued_at,
            due_at=issued_at + timedelta(days=due_days),
            payment_token=new_secret(),
            payment_token_expires_at=link_expires_at or issued_at + timedelta(days=60),
            finalized_at=issued_at,
        )
        uow.session.add(invoice)
        uow.session.get(BillingAccount, account.id).balance -= total
    return invoice.id


def make_service(
    unit_of_work: UnitOfWorkFactory,
    organization_id: str,
    status: ServiceStatus = ServiceStatus.ACTIVE,
) -> str:
    with unit_of_work("billing") as uow:
        service = Service(
            organization_id=organization_id,
            type=ServiceType.POS_TERMINAL,
            name="Till",
            monthly_fee=3000,
            status=status,
            activated_at=datetime(1998, 12, 1, tzinfo=UTC),
            cancelled_at=datetime(1999, 1, 15, tzinfo=UTC)
            if status == ServiceStatus.CANCELLED
            else None,
        )
        uow.session.add(service)
    return service.id


def invoice_state(unit_of_work: UnitOfWorkFactory, invoice_id: str) -> Invoice:
    with unit_of_work("billing") as uow:
        return uow.session.get(Invoice, invoice_id)


def account_state(unit_of_work: UnitOfWorkFactory, account_id: str) -> BillingAccount:
    with unit_of_work("billing") as uow:
        return uow.session.get(BillingAccount, account_id)


def service_statuses(unit_of_work: UnitOfWorkFactory, *service_ids: str) -> list[ServiceStatus]:
    with unit_of_work("billing") as uow:
        return [uow.session.get(Service, service_id).status for service_id in service_ids]


def events(unit_of_work: UnitOfWorkFactory, organization_id: str) -> list[str]:
    """Types of billing's outbox events about the organization, oldest first."""
    with unit_of_work("billing") as uow:
        outbox = uow.tables.outbox_message
        return list(
            uow.session.scalars(
                select(outbox.event_type)
                .where(outbox.payload["organization_id"].as_string() == organization_id)
                .order_by(outbox.created_at, outbox.id)
            )
        )


def event_payloads(
    unit_of_work: UnitOfWorkFactory, organization_id: str, event_type: str
) -> list[dict[str, Any]]:
    with unit_of_work("billing") as uow:
        outbox = uow.tables.outbox_message
        return list(
            uow.session.scalars(
                select(outbox.payload).where(
                    outbox.payload["organization_id"].as_string() == organization_id,
                    outbox.event_type == event_type,
                )
            )
        )


def pay(
    unit_of_work: UnitOfWorkFactory,
    invoice_id: str,
    amount: int,
    payment_id: str | None = None,
    *,
    method: str = "PAYNOW_ECOCASH",
) -> str:
    """Settle the `payment.paid` event payments sends for a payment of `invoice_id` (an
    invoice billing does not know belongs to no account here: any ids will do)."""
    with unit_of_work("billing") as uow:
        invoice = uow.session.get(Invoice, invoice_id)
        account = uow.session.get(BillingAccount, invoice.billing_account_id) if invoice else None
    payment = PaymentPaid(
        payment_id=payment_id or cuid(),
        invoice_id=invoice_id,
        organization_id=account.organization_id if account else cuid(),
        billing_account_id=account.id if account else cuid(),
        amount=amount,
        method=method,
    )
    with unit_of_work("billing") as uow:
        return settlement.settle_payment(uow, payment)


def pay_on_account(
    unit_of_work: UnitOfWorkFactory,
    account: BillingAccount,
    amount: int,
    payment_id: str | None = None,
    *,
    billing_account_id: str | None = None,
) -> str:
    """Settle a payment staff recorded on account (no invoice)."""
    payment = PaymentPaid(
        payment_id=payment_id or cuid(),
        invoice_id=None,
        organization_id=account.organization_id,
        billing_account_id=billing_account_id or account.id,
        amount=amount,
        method="BANK_TRANSFER",
    )
    with unit_of_work("billing") as uow:
        return settlement.settle_payment(uow, payment)


def credits_of(unit_of_work: UnitOfWorkFactory, account: BillingAccount) -> list[tuple]:
    """The account's credits as (amount, reason, issued_by_id), oldest first."""
    with unit_of_work("billing") as uow:
        return [
            (c.amount, c.reason, c.issued_by_id)
            for c in uow.session.scalars(
                select(Credit)
                .where(Credit.billing_account_id == account.id)
                .order_by(Credit.created_at, Credit.id)
            )
        ]


# --- settlement -----------------------------------------------------------------------------


def test_settling_a_payment_is_for_the_suite_not_even_staff(
    unit_of_work, as_user, as_system
) -> None:
    account = make_account(unit_of_work)
    invoice_id = make_invoice(unit_of_work, account)

    with as_user(is_staff=True), pytest.raises(Forbidden):
        pay(unit_of_work, invoice_id, TOTAL)

    invoice = invoice_state(unit_of_work, invoice_id)
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.ISSUED, 0)


def test_a_partial_payment_leaves_the_invoice_partial(unit_of_work, as_system) -> None:
    account = make_account(unit_of_work)
    invoice_id = make_invoice(unit_of_work, account)

    with as_system():
        outcome = pay(unit_of_work, invoice_id, 4_000)

    invoice = invoice_state(unit_of_work, invoice_id)
    assert outcome == f"invoice {invoice.invoice_number} PARTIAL"
    assert (invoice.status, invoice.amount_paid, invoice.amount_due, invoice.paid_at) == (
        InvoiceStatus.PARTIAL,
        4_000,
        6_000,
        None,
    )
    assert account_state(unit_of_work, account.id).balance == -TOTAL + 4_000
    assert "invoice.paid" not in events(unit_of_work, account.organization_id)


def test_the_same_payment_twice_is_counted_once(unit_of_work, as_system) -> None:
    account = make_account(unit_of_work)
    invoice_id = make_invoice(unit_of_work, account)
    payment_id = cuid()
    with as_system():
        pay(unit_of_work, invoice_id, 4_000, payment_id)
    before = invoice_state(unit_of_work, invoice_id)
    events_before = events(unit_of_work, account.organization_id)

    with as_system():
        outcome = pay(unit_of_work, invoice_id, 4_000, payment_id)
        # Even one redelivered with another amount.
        other_amount = pay(unit_of_work, invoice_id, TOTAL, payment_id)

    assert outcome == other_amount == "already counted"
    after = invoice_state(unit_of_work, invoice_id)
    assert (after.status, after.amount_paid, after.amount_due) == (
        before.status,
        before.amount_paid,
        before.amount_due,
    )
    assert account_state(unit_of_work, account.id).balance == -TOTAL + 4_000
    assert events(unit_of_work, account.organization_id) == events_before
    with unit_of_work("billing") as uow:
        applied = uow.session.scalars(
            select(AppliedPayment.amount).where(AppliedPayment.invoice_id == invoice_id)
        ).all()
    assert applied == [4_000]


def test_paying_the_rest_marks_the_invoice_paid_and_announces_it(unit_of_work, as_system) -> None:
    account = make_account(unit_of_work)
    invoice_id = make_invoice(unit_of_work, account)
    with as_system():
        pay(unit_of_work, invoice_id, 4_000)
        started = utcnow()
        outcome = pay(unit_of_work, invoice_id, 6_000)

    invoice = invoice_state(unit_of_work, invoice_id)
    assert outcome == f"invoice {invoice.invoice_number} PAID"
    assert (invoice.status, invoice.amount_paid, invoice.amount_due) == (
        InvoiceStatus.PAID,
        TOTAL,
        0,
    )
    assert started <= invoice.paid_at <= utcnow()
    assert account_state(unit_of_work, account.id).balance == 0
    [paid] = event_payloads(unit_of_work, account.organization_id, "invoice.paid")
    assert (paid["invoice_id"], paid["invoice_number"], paid["amount_paid"]) == (
        invoice_id,
        invoice.invoice_number,
        TOTAL,
    )


def test_an_over_payment_pays_the_total_and_keeps_the_rest_as_credit(
    unit_of_work, as_system
) -> None:
    account = make_account(unit_of_work)
    invoice_id = make_invoice(unit_of_work, account)

    with as_system():
        pay(unit_of_work, invoice_id, TOTAL + 2_500)

    invoice = invoice_state(unit_of_work, invoice_id)
    assert (invoice.status, invoice.amount_paid, invoice.amount_due) == (
        InvoiceStatus.PAID,
        TOTAL,
        0,
    )
    assert account_state(unit_of_work, account.id).balance == 2_500


@pytest.mark.parametrize("amount", [0, -500])
def test_a_payment_that_is_not_positive_is_refused(unit_of_work, as_system, amount: int) -> None:
    account = make_account(unit_of_work)
    invoice_id = make_invoice(unit_of_work, account)

    with as_system(), pytest.raises(ValidationFailed) as raised:
        pay(unit_of_work, invoice_id, amount)

    assert "amount" in raised.value.fields
    invoice = invoice_state(unit_of_work, invoice_id)
    assert (invoice.status, invoice.amount_paid, invoice.amount_due) == (
        InvoiceStatus.ISSUED,
        0,
        TOTAL,
    )


def test_a_payment_for_an_unknown_invoice_is_not_found(unit_of_work, as_system) -> None:
    payment_id = cuid()
    with as_system(), pytest.raises(NotFound) as raised:
        pay(unit_of_work, cuid(), 1_000, payment_id)

    assert "invoice_id" in raised.value.fields
    with unit_of_work("billing") as uow:
        assert uow.session.get(AppliedPayment, payment_id) is None


def applied_events(unit_of_work: UnitOfWorkFactory, organization_id: str) -> list[dict]:
    """The `payment.applied` payloads about the organization, without their envelope."""
    return [
        {k: v for k, v in payload.items() if k not in ("event_id", "occurred_at", "version")}
        for payload in event_payloads(unit_of_work, organization_id, "payment.applied")
    ]


def test_each_settled_payment_is_announced_with_what_it_paid(unit_of_work, as_system) -> None:
    account = make_account(unit_of_work)
    invoice_id = make_invoice(unit_of_work, account)
    number = invoice_state(unit_of_work, invoice_id).invoice_number
    first, second = cuid(), cuid()

    with as_system():
        pay(unit_of_work, invoice_id, 4_000, first)
        pay(unit_of_work, invoice_id, 6_000, second, method="BANK_TRANSFER")

    common = {"invoice_id": invoice_id, "invoice_number": number}
    org = account.organization_id
    assert applied_events(unit_of_work, org) == [
        {
            "payment_id": first, **common, "organization_id": org, "method": "PAYNOW_ECOCASH",
            "amount": 4_000, "applied": 4_000, "credited": 0, "amount_due": 6_000,
            "invoice_status": "PARTIAL",
        },
        {
            "payment_id": second, **common, "organization_id": org, "method": "BANK_TRANSFER",
            "amount": 6_000, "applied": 6_000, "credited": 0, "amount_due": 0,
            "invoice_status": "PAID",
        },
    ]  # fmt: skip
    assert credits_of(unit_of_work, account) == []


def test_a_payment_counted_already_is_not_announced_again(unit_of_work, as_system) -> None:
    account = make_account(unit_of_work)
    invoice_id = make_invoice(unit_of_work, account)
    payment_id = cuid()

    with as_system():
        pay(unit_of_work, invoice_id, TOTAL + 700, payment_id)
        pay(unit_of_work, invoice_id, TOTAL + 700, payment_id)

    [applied] = applied_events(unit_of_work, account.organization_id)
    assert applied["payment_id"] == payment_id
    assert len(credits_of(unit_of_work, account)) == 1
    assert account_state(unit_of_work, account.id).balance == 700


def test_an_over_payment_excess_is_a_credit_the_credits_list_explains(
    unit_of_work, as_system, as_user
) -> None:
    account = make_account(unit_of_work)
    invoice_id = make_invoice(unit_of_work, account)
    number = invoice_state(unit_of_work, invoice_id).invoice_number
    payment_id = cuid()

    with as_system():
        pay(unit_of_work, invoice_id, TOTAL + 2_500, payment_id)

    [applied] = applied_events(unit_of_work, account.organization_id)
    assert (applied["applied"], applied["credited"], applied["amount_due"]) == (TOTAL, 2_500, 0)
    assert applied["invoice_status"] == "PAID"
    with as_user(account.organization_id, MemberRole.BILLING), unit_of_work("billing") as uow:
        [credit] = settlement.list_credits(uow, account.organization_id, {})["items"]
    assert (credit["amount"], credit["reason"], credit["issued_by_id"]) == (
        2_500,
        f"Over-payment of {number}: PAYNOW_ECOCASH {payment_id}",
        None,
    )
    assert account_state(unit_of_work, account.id).balance == 2_500


def test_a_payment_of_a_void_invoice_is_all_credit(unit_of_work, as_system, as_user) -> None:
    account = make_account(unit_of_work)
    invoice_id = make_invoice(unit_of_work, account)
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        invoicing.void_invoice(uow, invoice_id)

    with as_system():
        pay(unit_of_work, invoice_id, 3_000)

    [applied] = applied_events(unit_of_work, account.organization_id)
    assert (applied["applied"], applied["credited"], applied["invoice_status"]) == (
        0,
        3_000,
        "VOID",
    )
    [(amount, reason, _)] = credits_of(unit_of_work, account)
    assert amount == 3_000
    assert reason.startswith("Payment of void invoice INV-1999-")
    assert account_state(unit_of_work, account.id).balance == 3_000


def test_a_payment_on_account_becomes_credit_once(unit_of_work, as_system) -> None:
    account = make_account(unit_of_work)
    make_invoice(unit_of_work, account, total=2_000)
    payment_id = cuid()

    with as_system():
        outcome = pay_on_account(unit_of_work, account, 5_000, payment_id)
        again = pay_on_account(unit_of_work, account, 5_000, payment_id)

    assert "on account" in outcome
    assert again == "already counted"
    assert credits_of(unit_of_work, account) == [
        (5_000, f"Payment on account: BANK_TRANSFER {payment_id}", None)
    ]
    assert account_state(unit_of_work, account.id).balance == -2_000 + 5_000
    with unit_of_work("billing") as uow:
        row = uow.session.get(AppliedPayment, payment_id)
        assert (row.invoice_id, row.amount, row.method) == (None, 5_000, "BANK_TRANSFER")
    org = account.organization_id
    assert applied_events(unit_of_work, org) == [
        {
            "payment_id": payment_id, "invoice_id": None, "invoice_number": None,
            "organization_id": org, "method": "BANK_TRANSFER", "amount": 5_000, "applied": 0,
            "credited": 5_000, "amount_due": 0, "invoice_status": None,
        }
    ]  # fmt: skip
    # The invoice is untouched: credit is used when the next invoice is finalized.
    assert [e for e in events(unit_of_work, org) if e != "payment.applied"] == []


def test_a_payment_on_account_of_another_account_is_refused(unit_of_work, as_system) -> None:
    account, other = make_account(unit_of_work), make_account(unit_of_work)
    payment_id = cuid()

    with as_system(), pytest.raises(NotFound) as raised:
        pay_on_account(unit_of_work, account, 5_000, payment_id, billing_account_id=other.id)

    assert "billing_account_id" in raised.value.fields
    with as_system(), pytest.raises(NotFound) as raised:
        pay_on_account(unit_of_work, BillingAccount(id=cuid(), organization_id=cuid()), 5_000)
    assert "organization_id" in raised.value.fields
    with unit_of_work("billing") as uow:
        assert uow.session.get(AppliedPayment, payment_id) is None
    assert credits_of(unit_of_work, account) == []
    assert account_state(unit_of_work, account.id).balance == 0


def test_a_payment_naming_another_account_invoice_is_not_found(unit_of_work, as_system) -> None:
    """The issue's cross-organization payment: billing does not count it either."""
    victim, payer = make_account(unit_of_work), make_account(unit_of_work)
    invoice_id = make_invoice(unit_of_work, victim)
    payment = PaymentPaid(
        payment_id=cuid(),
        invoice_id=invoice_id,
        organization_id=payer.organization_id,
        billing_account_id=payer.id,
        amount=TOTAL,
        method="CASH",
    )

    with as_system(), pytest.raises(NotFound) as raised, unit_of_work("billing") as uow:
        settlement.settle_payment(uow, payment)

    assert "invoice_id" in raised.value.fields
    invoice = invoice_state(unit_of_work, invoice_id)
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.ISSUED, 0)
    assert account_state(unit_of_work, payer.id).balance == 0
    with unit_of_work("billing") as uow:
        assert uow.session.get(AppliedPayment, payment.payment_id) is None


# --- the overdue run ----------------------------------------------------------------------------

ISSUED = datetime(1999, 2, 1, tzinfo=UTC)
DUE = ISSUED + timedelta(days=14)
SUSPEND = DUE + timedelta(days=14)  # the accounts' grace period


def run_overdue(unit_of_work: UnitOfWorkFactory, as_of: datetime) -> list[dict[str, Any]]:
    with unit_of_work("billing") as uow:
        return overdue.run_overdue(uow, {"as_of": as_of.isoformat()})


def reported(report: list[dict[str, Any]], organization_id: str) -> list[str]:
    return [row["status"] for row in report if row["organization_id"] == organization_id]


@pytest.fixture
def late_account(unit_of_work) -> dict[str, Any]:
    """An account with an unpaid invoice due on DUE, two active services and a cancelled
    one; and another organization's active service, which must never move."""
    account = make_account(unit_of_work, grace_period_days=14)
    org = account.organization_id
    return {
        "account": account,
        "org": org,
        "invoice": make_invoice(unit_of_work, account, issued_at=ISSUED),
        "active": [make_service(unit_of_work, org), make_service(unit_of_work, org)],
        "cancelled": make_service(unit_of_work, org, ServiceStatus.CANCELLED),
        "bystander": make_service(unit_of_work, cuid()),
    }


def audit_actions(unit_of_work: UnitOfWorkFactory, late: dict[str, Any]) -> list[str]:
    """What was audited about the late account, its invoice and its services."""
    entities = [late["account"].id, late["invoice"], *late["active"], late["cancelled"]]
    with unit_of_work("billing") as uow:
        audit = uow.tables.audit_log
        return sorted(
            uow.session.scalars(select(audit.action).where(audit.entity_id.in_(entities)))
        )


def test_the_overdue_run_is_for_staff_or_the_suite(unit_of_work, as_user, as_system) -> None:
    with as_user(cuid(), MemberRole.OWNER), pytest.raises(Forbidden):
        run_overdue(unit_of_work, ISSUED)
    with as_user(is_staff=True):
        assert isinstance(run_overdue(unit_of_work, ISSUED), list)
    with as_system():
        assert isinstance(run_overdue(unit_of_work, ISSUED), list)


@pytest.mark.parametrize("as_of", [DUE - timedelta(days=1), DUE], ids=["day-before", "due-at"])
def test_before_an_invoice_is_past_due_nothing_changes(
    unit_of_work, as_system, late_account, as_of: datetime
) -> None:
    with as_system():
        report = run_overdue(unit_of_work, as_of)

    assert reported(report, late_account["org"]) == []
    assert invoice_state(unit_of_work, late_account["invoice"]).status == InvoiceStatus.ISSUED
    assert account_state(unit_of_work, late_account["account"].id).status == (
        BillingAccountStatus.ACTIVE
    )
    assert events(unit_of_work, late_account["org"]) == []


def test_past_due_the_invoice_and_the_account_are_overdue(
    unit_of_work, as_system, late_account
) -> None:
    with as_system():
        report = run_overdue(unit_of_work, DUE + timedelta(days=1))

    assert reported(report, late_account["org"]) == ["OVERDUE"]
    assert invoice_state(unit_of_work, late_account["invoice"]).status == InvoiceStatus.OVERDUE
    assert account_state(unit_of_work, late_account["account"].id).status == (
        BillingAccountStatus.OVERDUE
    )
    assert events(unit_of_work, late_account["org"]) == ["billing_account.overdue"]
    assert service_statuses(unit_of_work, *late_account["active"]) == [ServiceStatus.ACTIVE] * 2


def test_past_the_grace_period_the_account_and_its_active_services_are_suspended(
    unit_of_work, as_system, late_account
) -> None:
    with as_system():
        run_overdue(unit_of_work, DUE + timedelta(days=1))
        report = run_overdue(unit_of_work, SUSPEND)

    assert reported(report, late_account["org"]) == ["SUSPENDED"]
    assert account_state(unit_of_work, late_account["account"].id).status == (
        BillingAccountStatus.SUSPENDED
    )
    assert events(unit_of_work, late_account["org"]) == [
        "billing_account.overdue",
        "billing_account.suspended",
    ]
    with unit_of_work("billing") as uow:
        suspended = [uow.session.get(Service, id_) for id_ in late_account["active"]]
        assert [(s.status, s.suspended_at) for s in suspended] == [
            (ServiceStatus.SUSPENDED, SUSPEND)
        ] * 2
    assert service_statuses(unit_of_work, late_account["cancelled"], late_account["bystander"]) == [
        ServiceStatus.CANCELLED,
        ServiceStatus.ACTIVE,
    ]


def test_a_first_run_past_the_grace_period_suspends_at_once(
    unit_of_work, as_system, late_account
) -> None:
    with as_system():
        run_overdue(unit_of_work, SUSPEND + timedelta(days=3))

    assert account_state(unit_of_work, late_account["account"].id).status == (
        BillingAccountStatus.SUSPENDED
    )
    assert events(unit_of_work, late_account["org"]) == ["billing_account.suspended"]


def test_running_again_changes_nothing_and_announces_nothing(
    unit_of_work, as_system, late_account
) -> None:
    with as_system():
        run_overdue(unit_of_work, DUE + timedelta(days=1))
        run_overdue(unit_of_work, SUSPEND)
    announced = events(unit_of_work, late_account["org"])
    audited = audit_actions(unit_of_work, late_account)
    assert audited == ["billing_account.overdue", "billing_account.suspended", "invoice.overdue"]

    with as_system():
        again = run_overdue(unit_of_work, SUSPEND)
        later = run_overdue(unit_of_work, SUSPEND + timedelta(days=30))

    assert (
        reported(again, late_account["org"])
        == reported(later, late_account["org"])
        == ["SUSPENDED"]
    )
    assert events(unit_of_work, late_account["org"]) == announced
    assert audit_actions(unit_of_work, late_account) == audited
    assert account_state(unit_of_work, late_account["account"].id).status == (
        BillingAccountStatus.SUSPENDED
    )
    assert invoice_state(unit_of_work, late_account["invoice"]).status == InvoiceStatus.OVERDUE


def test_paying_everything_overdue_reactivates_the_account_and_its_services(
    unit_of_work, as_system, late_account
) -> None:
    account, org = late_account["account"], late_account["org"]
    second = make_invoice(unit_of_work, account, total=3_000, issued_at=ISSUED + timedelta(days=1))
    with as_system():
        run_overdue(unit_of_work, SUSPEND)

        pay(unit_of_work, late_account["invoice"], TOTAL)
        # One of the two overdue invoices is still unpaid: nothing comes back yet.
        assert account_state(unit_of_work, account.id).status == BillingAccountStatus.SUSPENDED
        assert (
            service_statuses(unit_of_work, *late_account["active"]) == [ServiceStatus.SUSPENDED] * 2
        )

        pay(unit_of_work, second, 3_000)

    assert account_state(unit_of_work, account.id).status == BillingAccountStatus.ACTIVE
    with unit_of_work("billing") as uow:
        services = [uow.session.get(Service, id_) for id_ in late_account["active"]]
        assert [(s.status, s.suspended_at) for s in services] == [(ServiceStatus.ACTIVE, None)] * 2
    assert service_statuses(unit_of_work, late_account["cancelled"]) == [ServiceStatus.CANCELLED]
    assert events(unit_of_work, org) == [
        "billing_account.suspended",
        "payment.applied",
        "invoice.paid",
        "payment.applied",
        "invoice.paid",
        "billing_account.reactivated",
    ]


def test_a_service_staff_suspended_stays_suspended_when_the_account_comes_back(
    unit_of_work, as_system, as_user, late_account
) -> None:
    account, org = late_account["account"], late_account["org"]
    held = make_service(unit_of_work, org)  # e.g. a terminal reported stolen
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        catalog.change_service(uow, held, "suspend", {})
    with as_system():
        run_overdue(unit_of_work, SUSPEND)
        pay(unit_of_work, late_account["invoice"], TOTAL)

    assert account_state(unit_of_work, account.id).status == BillingAccountStatus.ACTIVE
    assert service_statuses(unit_of_work, *late_account["active"]) == [ServiceStatus.ACTIVE] * 2
    assert service_statuses(unit_of_work, held) == [ServiceStatus.SUSPENDED]
    with unit_of_work("billing") as uow:
        audit = uow.tables.audit_log
        [reactivated] = uow.session.scalars(
            select(audit.metadata_).where(
                audit.action == "billing_account.reactivated", audit.entity_id == account.id
            )
        ).all()
    assert reactivated["services"] == 2

    with as_user(is_staff=True), unit_of_work("billing") as uow:
        answer = catalog.change_service(uow, held, "reactivate", {})
    assert (answer["status"], answer["suspended_with_account"]) == ("ACTIVE", False)


# --- credits and the catalog ------------------------------------------------------------------


def test_only_staff_issue_credits(unit_of_work, as_user) -> None:
    account = make_account(unit_of_work)

    with (
        as_user(account.organization_id, MemberRole.OWNER),
        pytest.raises(Forbidden),
        unit_of_work("billing") as uow,
    ):
        settlement.issue_credit(uow, account.organization_id, {"amount": 500, "reason": "Mine"})

    assert account_state(unit_of_work, account.id).balance == 0


def test_a_staff_credit_raises_the_balance_and_records_who_issued_it(unit_of_work, as_user) -> None:
    account = make_account(unit_of_work)
    make_invoice(unit_of_work, account, total=2_000)
    staff_id = cuid()

    with as_user(is_staff=True, actor_id=staff_id), unit_of_work("billing") as uow:
        credit = settlement.issue_credit(
            uow, account.organization_id, {"amount": 750, "reason": "Terminal outage"}
        )

    assert (credit["amount"], credit["issued_by_id"], credit["billing_account_id"]) == (
        750,
        staff_id,
        account.id,
    )
    assert account_state(unit_of_work, account.id).balance == -2_000 + 750
    with unit_of_work("billing") as uow:
        stored = uow.session.get(Credit, credit["id"])
        assert (stored.amount, stored.reason, stored.issued_by_id) == (
            750,
            "Terminal outage",
            staff_id,
        )
    assert events(unit_of_work, account.organization_id) == ["credit.issued"]


def test_a_credit_for_an_organization_without_account_is_not_found(unit_of_work, as_user):
    with (
        as_user(is_staff=True),
        pytest.raises(NotFound),
        unit_of_work("billing") as uow,
    ):
        settlement.issue_credit(uow, cuid(), {"amount": 750, "reason": "Nobody"})


def test_a_hardware_serial_is_on_one_active_service_at_a_time(unit_of_work, as_user) -> None:
    serial = f"SN-{cuid()}"
    terminal = {"type": "POS_TERMINAL", "name": "Till", "monthly_fee": 3000}
    one, other, third = (make_account(unit_of_work).organization_id for _ in range(3))
    with as_user(is_staff=True):
        with unit_of_work("billing") as uow:
            first = catalog.add_service(uow, one, {**terminal, "hardware_serial": serial})

        with pytest.raises(Conflict) as raised, unit_of_work("billing") as uow:
            catalog.add_service(uow, other, {**terminal, "hardware_serial": serial})
        assert "hardware_serial" in raised.value.fields

        with unit_of_work("billing") as uow:
            catalog.change_service(uow, first["id"], "cancel", {})
        with unit_of_work("billing") as uow:
            second = catalog.add_service(uow, third, {**terminal, "hardware_serial": serial})

    assert second["hardware_serial"] == serial
    assert second["status"] == "ACTIVE"
    assert service_statuses(unit_of_work, first["id"]) == [ServiceStatus.CANCELLED]


# --- the payment link ------------------------------------------------------------------------


def test_the_payment_link_token_is_for_the_suite_and_gone_once_the_invoice_is_void(
    unit_of_work, as_system, as_user
) -> None:
    """Notifications asks for it right before the invoice email: no event carries it."""
    invoice_id = make_invoice(unit_of_work, make_account(unit_of_work))
    with as_user(is_staff=True), pytest.raises(Forbidden), unit_of_work("billing") as uow:
        invoicing.payment_token(uow, invoice_id)
    with as_system(), unit_of_work("billing") as uow:
        token = invoicing.payment_token(uow, invoice_id)
    assert token is not None
    assert token == invoice_state(unit_of_work, invoice_id).payment_token
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        invoicing.void_invoice(uow, invoice_id)
    with as_system(), unit_of_work("billing") as uow:
        assert invoicing.payment_token(uow, invoice_id) is None
    with as_system(), pytest.raises(NotFound), unit_of_work("billing") as uow:
        invoicing.payment_token(uow, cuid())


# --- the database guards finalized invoices -----------------------------------------------------


def test_a_finalized_invoice_total_cannot_change(unit_of_work) -> None:
    invoice_id = make_invoice(unit_of_work, make_account(unit_of_work))

    with pytest.raises(DBAPIError, match="finalized"), unit_of_work("billing") as uow:
        uow.session.get(Invoice, invoice_id).total += 1
        uow.session.flush()

    assert invoice_state(unit_of_work, invoice_id).total == TOTAL


def test_a_finalized_invoice_payment_state_may_change(unit_of_work) -> None:
    invoice_id = make_invoice(unit_of_work, make_account(unit_of_work))

    with unit_of_work("billing") as uow:
        invoice = uow.session.get(Invoice, invoice_id)
        invoice.amount_paid, invoice.amount_due = 1_000, TOTAL - 1_000
        invoice.status = InvoiceStatus.PARTIAL

    invoice = invoice_state(unit_of_work, invoice_id)
    assert (invoice.amount_paid, invoice.amount_due, invoice.status) == (
        1_000,
        TOTAL - 1_000,
        InvoiceStatus.PARTIAL,
    )


def test_no_line_item_can_be_added_to_a_finalized_invoice(unit_of_work) -> None:
    invoice_id = make_invoice(unit_of_work, make_account(unit_of_work))

    with pytest.raises(DBAPIError, match="finalized"), unit_of_work("billing") as uow:
        uow.session.add(
            InvoiceLineItem(invoice_id=invoice_id, description="Extra", unit_price=100, total=100)
        )
        uow.session.flush()

    with unit_of_work("billing") as uow:
        count = uow.session.scalar(
            select(func.count()).where(InvoiceLineItem.invoice_id == invoice_id)
        )
    assert count == 0


# --- regressions ------------------------------------------------------------------------------


def test_paying_a_paid_invoice_again_only_adds_credit(unit_of_work, as_system) -> None:
    account = make_account(unit_of_work)
    invoice_id = make_invoice(unit_of_work, account)
    with as_system():
        pay(unit_of_work, invoice_id, TOTAL)
        paid_at = invoice_state(unit_of_work, invoice_id).paid_at
        pay(unit_of_work, invoice_id, 500)
    invoice = invoice_state(unit_of_work, invoice_id)
    assert (invoice.status, invoice.paid_at, invoice.amount_paid) == (
        InvoiceStatus.PAID,
        paid_at,
        TOTAL,
    )
    assert events(unit_of_work, account.organization_id).count("invoice.paid") == 1
    assert account_state(unit_of_work, account.id).balance == 500
    [(amount, reason, issued_by)] = credits_of(unit_of_work, account)
    assert (amount, issued_by) == (500, None)
    assert reason.startswith(f"Over-payment of {invoice.invoice_number}: PAYNOW_ECOCASH ")


def test_voiding_the_overdue_invoice_reactivates_the_account(
    unit_of_work, as_system, as_user, late_account
) -> None:
    with as_system():
        run_overdue(unit_of_work, SUSPEND)
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        invoicing.void_invoice(uow, late_account["invoice"])
    assert (
        account_state(unit_of_work, late_account["account"].id).status
        == BillingAccountStatus.ACTIVE
    )
    assert service_statuses(unit_of_work, *late_account["active"]) == [ServiceStatus.ACTIVE] * 2


def test_a_terminal_leased_elsewhere_meanwhile_stays_suspended_on_payment(
    unit_of_work, as_system, as_user, late_account
) -> None:
    serial = f"SN-{cuid()}"
    with unit_of_work("billing") as uow:
        uow.session.get(Service, late_account["active"][0]).hardware_serial = serial
    with as_system():
        run_overdue(unit_of_work, SUSPEND)
    elsewhere = make_account(unit_of_work).organization_id
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        catalog.add_service(
            uow,
            elsewhere,
            {
                "type": "POS_TERMINAL",
                "name": "Re-leased",
                "monthly_fee": 1,
                "hardware_serial": serial,
            },
        )
    with as_system():
        pay(unit_of_work, late_account["invoice"], TOTAL)
    assert (
        account_state(unit_of_work, late_account["account"].id).status
        == BillingAccountStatus.ACTIVE
    )
    assert service_statuses(unit_of_work, *late_account["active"]) == [
        ServiceStatus.SUSPENDED,
        ServiceStatus.ACTIVE,
    ]
