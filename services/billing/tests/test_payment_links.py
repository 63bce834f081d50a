"""The payment link (the token is the authority, so it is checked before the database sees
it) and account credit applied when an invoice is finalized, which payments must hear of.

Invoices here are made by the billing run's own per-account step, for a month of 1998, each
for a new account."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from services.billing import invoicing
from services.billing.models import AppliedPayment, BillingAccount, Invoice, Service, ServiceType
from services.billing.tests.test_settlement_and_overdue import (
    TOTAL,
    UnitOfWorkFactory,
    event_payloads,
    invoice_state,
    make_account,
    make_invoice,
    pay,
)
from shared.clock import utcnow
from shared.errors import NotFound
from shared.tokens import new_secret
from shared.unit_of_work import UnitOfWork

PERIOD = invoicing.Period.month("1998-06")


class Store:
    """The `Transactions` the billing run takes, on the test database."""

    def __init__(self, unit_of_work: UnitOfWorkFactory) -> None:
        self.unit_of_work = unit_of_work

    def transaction(self) -> AbstractContextManager[UnitOfWork]:
        return self.unit_of_work("billing")


def no_usage(organization_id: str, period_end: str, invoice_id: str) -> dict[str, int]:
    return {}


def nothing_to_release(invoice_id: str) -> int:
    raise AssertionError("every account here has something to bill")


def finalized_invoice(
    unit_of_work: UnitOfWorkFactory, *, balance: int = 0, fees: tuple[int, ...] = (3_000,)
) -> tuple[BillingAccount, Invoice]:
    """A new account with `balance` (positive: credit) leasing a terminal per fee, invoiced
    for PERIOD by the billing run's step."""
    account = make_account(unit_of_work)
    with unit_of_work("billing") as uow:
        uow.session.get(BillingAccount, account.id).balance = balance
        for index, fee in enumerate(fees):
            uow.session.add(
                Service(
                    organization_id=account.organization_id,
                    type=ServiceType.POS_TERMINAL,
                    # Named so that the lines' order by description is not their order here.
                    name=f"Till {chr(ord('Z') - index)}",
                    monthly_fee=fee,
                    activated_at=PERIOD.start - timedelta(days=40),
                )
            )
    outcome = invoicing.invoice_account(
        Store(unit_of_work),
        account.id,
        account.organization_id,
        PERIOD,
        no_usage,
        nothing_to_release,
    )
    assert outcome["result"] == "invoiced"
    with unit_of_work("billing") as uow:
        invoice = uow.session.scalar(
            select(Invoice).where(Invoice.invoice_number == outcome["invoice_number"])
        )
    return account, invoice


def link(unit_of_work: UnitOfWorkFactory, token: Any) -> dict[str, Any]:
    with unit_of_work("billing") as uow:
        return invoicing.invoice_for_payment_link(uow, token)


# --- the payment link -------------------------------------------------------------------------


def test_anyone_with_the_link_sees_the_invoice_without_its_token(unit_of_work) -> None:
    """No caller is bound: the gateway's anonymous pay page asks through payments."""
    account, invoice = finalized_invoice(unit_of_work, fees=(1_000, 2_000, 3_000))

    found = link(unit_of_work, invoice.payment_token)

    assert (found["organization_id"], found["billing_account_id"], found["state"]) == (
        account.organization_id,
        account.id,
        "payable",
    )
    shown = found["invoice"]
    assert "payment_token" not in shown
    assert "payment_token_expires_at" not in shown
    assert (shown["id"], shown["invoice_number"], shown["amount_due"]) == (
        invoice.id,
        invoice.invoice_number,
        invoice.amount_due,
    )
    descriptions = [line["description"] for line in shown["line_items"]]
    assert len(descriptions) == 3
    assert descriptions == sorted(descriptions)
    assert invoice.payment_token not in repr(found)


def test_the_link_says_when_the_invoice_is_paid_void_or_expired(
    unit_of_work, as_system, as_user
) -> None:
    paid = make_invoice(unit_of_work, make_account(unit_of_work))
    void = make_invoice(unit_of_work, make_account(unit_of_work))
    expired = make_invoice(
        unit_of_work, make_account(unit_of_work), link_expires_at=utcnow() - timedelta(minutes=1)
    )
    partly_paid = make_invoice(unit_of_work, make_account(unit_of_work))
    with as_system():
        pay(unit_of_work, paid, TOTAL)
        pay(unit_of_work, partly_paid, 1_000)
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        invoicing.void_invoice(uow, void)

    def state(invoice_id: str) -> str:
        return link(unit_of_work, invoice_state(unit_of_work, invoice_id).payment_token)["state"]

    assert [state(i) for i in (paid, void, expired, partly_paid)] == [
        "paid",
        "void",
        "expired",
        "payable",
    ]


@pytest.mark.parametrize(
    "token",
    [
        "",
        "short",
        "a" * 42,
        "a" * 44,
        "a" * 42 + "=",
        "a" * 42 + "/",
        "a" * 42 + "\x00",
        "' OR 1=1 --" + "a" * 32,
        "é" * 43,
        "a" * 100_000,
        None,
        43,
        ["a" * 43],
    ],
    ids=lambda t: repr(t)[:20],
)
def test_a_malformed_token_is_not_found_naming_it(unit_of_work, token: Any) -> None:
    with pytest.raises(NotFound) as raised:
        link(unit_of_work, token)
    assert "token" in raised.value.fields


def test_an_unknown_token_is_not_found_naming_it(unit_of_work) -> None:
    with pytest.raises(NotFound) as raised:
        link(unit_of_work, new_secret())
    assert "token" in raised.value.fields


# --- credit applied at finalization -------------------------------------------------------------


def test_credit_used_by_a_new_invoice_is_announced_for_payments(unit_of_work) -> None:
    account, invoice = finalized_invoice(unit_of_work, balance=1_250)

    [announced] = event_payloads(unit_of_work, account.organization_id, "credit.applied")

    assert {k: announced[k] for k in announced if k not in ("event_id", "occurred_at")} == {
        "version": 1,
        "invoice_id": invoice.id,
        "invoice_number": invoice.invoice_number,
        "organization_id": account.organization_id,
        "billing_account_id": account.id,
        "amount": 1_250,
    }
    assert (invoice.amount_paid, invoice.amount_due) == (1_250, invoice.total - 1_250)
    with unit_of_work("billing") as uow:
        applied = uow.session.get(AppliedPayment, f"credit:{invoice.id}")
        assert (applied.invoice_id, applied.amount, applied.method) == (invoice.id, 1_250, "CREDIT")


def test_no_credit_no_announcement(unit_of_work) -> None:
    account, invoice = finalized_invoice(unit_of_work, balance=-500)

    assert event_payloads(unit_of_work, account.organization_id, "credit.applied") == []
    assert (invoice.amount_paid, invoice.amount_due) == (0, invoice.total)


def test_credit_beyond_the_total_pays_the_invoice_and_the_rest_stays(unit_of_work) -> None:
    account, invoice = finalized_invoice(unit_of_work, balance=50_000)

    [announced] = event_payloads(unit_of_work, account.organization_id, "credit.applied")

    assert announced["amount"] == invoice.total
    assert (invoice.status.value, invoice.amount_due) == ("PAID", 0)
    with unit_of_work("billing") as uow:
        assert uow.session.get(BillingAccount, account.id).balance == 50_000 - invoice.total
