"""Properties of the money, checked by hypothesis.

The arithmetic (no database): a prorated fee is the exact share of the month rounded half
away from zero, usage is charged beyond what is included, tax is the rate of the subtotal
rounded once, each against an oracle written from the rules in services/billing/invoicing.py
with exact integers.

The account (the run's database, billing's domain functions): a state machine leases
terminals, invoices months with usage and tax, takes partial payments, over-payments,
repeated payments, payments on account, staff credits and voids, in any order. After every
step:
- each invoice's lines are quantity x unit price, its subtotal is the sum of its lines,
  its total is subtotal + tax, and both match the oracle;
- amountPaid + amountDue is the total (a void invoice owes nothing), neither is negative,
  and the status follows (PAID exactly when nothing is due);
- the account's balance is payments + credits - invoiced (void invoices not counted);
- the ledger's lines add up to the balance, and its last line's balance is it;
- the account's credits are the staff credits plus the money beyond what invoices owed.

Bounded for CI: MACHINE_EXAMPLES runs of at most MACHINE_STEPS steps each (about a minute).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, pool, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import sessionmaker

from services.billing import accounts, invoicing, ledger, settlement
from services.billing import settings as billing_settings
from services.billing.invoicing import Period, service_lines, tax_on, usage_lines
from services.billing.models import (
    BillingAccount,
    Credit,
    Invoice,
    InvoiceStatus,
    Service,
    ServiceStatus,
    ServiceType,
    tables,
)
from services.payments.events import PaymentPaid
from shared import config, context
from shared.db import make_engine
from shared.errors import Conflict
from shared.ids import cuid
from shared.money import prorate
from shared.unit_of_work import UnitOfWork

MACHINE_EXAMPLES = 30
MACHINE_STEPS = 30
ARITHMETIC_EXAMPLES = 500

PRICED, UNPRICED = "pos.transaction", "pos.unpriced"


def half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero, for numerator >= 0."""
    return (2 * numerator + denominator) // (2 * denominator)


# --- the arithmetic ------------------------------------------------------------------------

months = st.builds(
    lambda year, month: Period.month(f"{year}-{month:02d}"),
    st.integers(2000, 2099),
    st.integers(1, 12),
)
fees = st.integers(0, 10_000_000)


@settings(max_examples=ARITHMETIC_EXAMPLES, database=None)
@given(fee=fees, period=months, data=st.data())
def test_a_prorated_fee_is_its_exact_share_rounded_half_up(
    fee: int, period: Period, data: st.DataObject
) -> None:
    days = data.draw(st.integers(0, period.days))
    share = prorate(fee, days, period.days)
    assert share == half_up(fee * days, period.days)
    assert 0 <= share <= fee
    assert prorate(fee, period.days, period.days) == fee


@settings(max_examples=ARITHMETIC_EXAMPLES, database=None)
@given(
    fee=fees,
    period=months,
    start_offset=st.integers(-40 * 24, 40 * 24),
    length=st.none() | st.integers(0, 70 * 24),
)
def test_a_service_is_billed_its_days_in_the_month(
    fee: int, period: Period, start_offset: int, length: int | None
) -> None:
    """From the day it was activated (inclusive) to the day it was cancelled (exclusive),
    within the period, in UTC days."""
    activated = period.start + timedelta(hours=start_offset)
    cancelled = None if length is None else activated + timedelta(hours=length)
    service = Service(
        id="s", organization_id="o", type=ServiceType.POS_TERMINAL, name="Till",
        monthly_fee=fee, activated_at=activated, cancelled_at=cancelled,
        status=ServiceStatus.ACTIVE if cancelled is None else ServiceStatus.CANCELLED,
    )  # fmt: skip
    lines = service_lines([service], period)

    days = billed_days(activated, cancelled, period)
    assert [line.total for line in lines] == ([half_up(fee * days, period.days)] if days else [])
    assert all(line.quantity == 1 and line.total == line.unit_price for line in lines)


def billed_days(activated: datetime, cancelled: datetime | None, period: Period) -> int:
    start = max(activated, period.start)
    stop = period.end if cancelled is None else min(cancelled, period.end)
    return max(0, (stop.date() - start.date()).days) if stop > start else 0


@settings(max_examples=ARITHMETIC_EXAMPLES, database=None)
@given(
    used=st.integers(0, 10_000_000),
    unpriced=st.integers(0, 10_000),
    included=st.integers(0, 100_000),
    unit_price=st.integers(0, 1_000),
)
def test_usage_is_charged_beyond_what_is_included_and_only_if_priced(
    used: int, unpriced: int, included: int, unit_price: int
) -> None:
    prices = {PRICED: {"included": included, "unit_price": unit_price}}
    lines = usage_lines({PRICED: used, UNPRICED: unpriced}, prices)

    assert [line.total for line in lines] == (
        [max(0, used - included) * unit_price] if used else []
    )
    assert all(line.total == line.quantity * line.unit_price for line in lines)


@settings(max_examples=ARITHMETIC_EXAMPLES, database=None)
@given(subtotal=st.integers(0, 2_000_000_000), basis_points=st.integers(0, 10_000))
def test_tax_is_the_rate_of_the_subtotal_rounded_once(subtotal: int, basis_points: int) -> None:
    tax = tax_on(subtotal, basis_points)
    assert tax == half_up(subtotal * basis_points, 10_000)
    assert abs(Decimal(tax) - Decimal(subtotal) * basis_points / 10_000) <= Decimal("0.5")


@settings(max_examples=ARITHMETIC_EXAMPLES, database=None)
@given(cents=st.integers(0, 1_000_000_000), basis_points=st.sampled_from([5_000, 2_500, 1_250]))
def test_half_a_cent_of_tax_rounds_up(cents: int, basis_points: int) -> None:
    """Subtotals whose tax ends in exactly half a cent (rare among random ones)."""
    subtotal = (2 * cents + 1) * 10_000 // (2 * basis_points)
    exact = Decimal(subtotal) * basis_points / 10_000
    assert exact % 1 == Decimal("0.5")
    assert tax_on(subtotal, basis_points) == int(exact) + 1


# --- the account ---------------------------------------------------------------------------


class Store:
    """billing's `Transactions` on the run's database, one engine for the whole test."""

    def __init__(self) -> None:
        self.engine = make_engine(config.database_url("billing"), poolclass=pool.QueuePool)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def transaction(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, tables)


@contextmanager
def acting(actor_type: str, *, is_staff: bool = False) -> Iterator[None]:
    context.bind(context.CallContext(actor_type=actor_type, actor_id="money", is_staff=is_staff))
    try:
        yield
    finally:
        context.bind(context.CallContext())


def as_staff() -> Any:
    return acting(context.USER, is_staff=True)


def as_system() -> Any:
    return acting(context.SYSTEM)


def put_setting(store: Store, key: str, value: str) -> None:
    with store.transaction() as uow:
        model = uow.tables.system_setting
        uow.session.execute(
            insert(model)
            .values(id=cuid(), key=key, value=value)
            .on_conflict_do_update(index_elements=[model.key], set_={"value": value})
        )


@dataclass
class Leased:
    fee: int
    activated: datetime
    cancelled: datetime | None


@dataclass
class Expected:
    """What the model says of one invoice."""

    id: str
    total: int
    amount_due: int
    amount_paid: int
    void: bool = False


@dataclass
class Payment:
    event: PaymentPaid
    invoice: Expected | None


@dataclass
class Model:
    received: int = 0
    """Money paid in (each payment counted once)."""
    credited: int = 0
    """Credits staff issued."""
    invoiced: int = 0
    """Totals of the finalized invoices not void."""
    kept_as_credit: int = 0
    """Money beyond what its invoice owed, and payments on account."""
    services: list[Leased] = field(default_factory=list)
    invoices: dict[str, Expected] = field(default_factory=dict)

    @property
    def balance(self) -> int:
        return self.received + self.credited - self.invoiced


class BillingAccountMachine(RuleBasedStateMachine):
    """One new organization's billing account, month after month from January 2001."""

    store: Store
    invoices = Bundle("invoices")
    payments = Bundle("payments")

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.organization_id = cuid()
        self.month = Period.month("2001-01")
        with self.store.transaction() as uow:
            accounts.open_billing_account(uow, self.organization_id)
        with self.store.transaction() as uow:
            self.account_id = accounts.account_for(uow, self.organization_id).id

    @initialize(
        # 50% and 25% make halves of a cent, where the rounding rule shows.
        tax_rate=st.sampled_from([0, 1_550, 2_500, 5_000]) | st.integers(0, 10_000),
        included=st.integers(0, 5_000),
        unit_price=st.integers(0, 300),
    )
    def prices(self, tax_rate: int, included: int, unit_price: int) -> None:
        """Settings are the billing service's, read at each finalization."""
        self.tax_rate, self.included, self.unit_price = tax_rate, included, unit_price
        put_setting(self.store, billing_settings.TAX_RATE_BASIS_POINTS, str(tax_rate))
        put_setting(
            self.store,
            billing_settings.PRICE_PREFIX + PRICED,
            f'{{"included": {included}, "unit_price": {unit_price}}}',
        )

    # --- what happens to the account --------------------------------------------------------

    @rule(
        fee=st.integers(0, 500_000),
        start_hours=st.integers(-40 * 24, 40 * 24),
        length_hours=st.none() | st.integers(0, 70 * 24),
    )
    def lease(self, fee: int, start_hours: int, length_hours: int | None) -> None:
        """Staff lease a terminal from around the month to bill next (maybe a part of it)."""
        activated = self.month.start + timedelta(hours=start_hours)
        cancelled = None if length_hours is None else activated + timedelta(hours=length_hours)
        with self.store.transaction() as uow:
            uow.session.add(
                Service(
                    organization_id=self.organization_id,
                    type=ServiceType.POS_TERMINAL,
                    name="Till",
                    monthly_fee=fee,
                    activated_at=activated,
                    cancelled_at=cancelled,
                    status=ServiceStatus.ACTIVE if cancelled is None else ServiceStatus.CANCELLED,
                )
            )
        self.model.services.append(Leased(fee, activated, cancelled))

    @rule(target=invoices, used=st.integers(0, 50_000), unpriced=st.integers(0, 1_000))
    def invoice_the_month(self, used: int, unpriced: int) -> Any:
        period, self.month = self.month, Period.month(self.month.end.strftime("%Y-%m"))
        usage = {PRICED: used, UNPRICED: unpriced}
        outcome = invoicing.invoice_account(
            self.store,
            self.account_id,
            self.organization_id,
            period,
            lambda organization_id, period_end, invoice_id: usage,
            lambda invoice_id: 0,
        )
        subtotal = self._expected_subtotal(period, used)
        if subtotal is None:
            assert outcome["result"] == "nothing to bill"
            return multiple()
        assert outcome["result"] == "invoiced"
        total = subtotal + half_up(subtotal * self.tax_rate, 10_000)
        credit = min(max(0, self.model.balance), total)
        with self.store.transaction() as uow:
            invoice_id = uow.session.scalar(
                select(Invoice.id).where(
                    Invoice.billing_account_id == self.account_id,
                    Invoice.period_start == period.start,
                )
            )
        expected = Expected(invoice_id, total, amount_due=total - credit, amount_paid=credit)
        self.model.invoices[invoice_id] = expected
        self.model.invoiced += total
        return expected

    def _expected_subtotal(self, period: Period, used: int) -> int | None:
        """The oracle: None when there is no line to bill."""
        amounts = [
            half_up(s.fee * days, period.days)
            for s in self.model.services
            if (days := billed_days(s.activated, s.cancelled, period))
        ]
        if used > 0:
            amounts.append(max(0, used - self.included) * self.unit_price)
        return sum(amounts) if amounts else None

    @rule(target=payments, invoice=invoices, amount=st.integers(1, 400_000))
    def pay(self, invoice: Expected, amount: int) -> Payment:
        return self._pay(invoice, amount)

    @precondition(lambda self: any(i.amount_due for i in self.model.invoices.values()))
    @rule(target=payments, invoice=invoices)
    def pay_what_is_due(self, invoice: Expected) -> Any:
        if invoice.amount_due == 0:
            return multiple()
        return self._pay(invoice, invoice.amount_due)

    @rule(target=payments, amount=st.integers(1, 200_000))
    def pay_on_account(self, amount: int) -> Payment:
        return self._pay(None, amount)

    def _pay(self, invoice: Expected | None, amount: int) -> Payment:
        event = PaymentPaid(
            payment_id=cuid(),
            invoice_id=invoice.id if invoice else None,
            organization_id=self.organization_id,
            billing_account_id=self.account_id,
            amount=amount,
            method="PAYNOW_ECOCASH",
        )
        with as_system(), self.store.transaction() as uow:
            settlement.settle_payment(uow, event)
        applied = 0
        if invoice is not None and not invoice.void:
            applied = min(amount, invoice.amount_due)
            invoice.amount_due -= applied
            invoice.amount_paid += applied
        self.model.received += amount
        self.model.kept_as_credit += amount - applied
        return Payment(event, invoice)

    @rule(payment=payments)
    def the_same_payment_again(self, payment: Payment) -> None:
        with as_system(), self.store.transaction() as uow:
            assert settlement.settle_payment(uow, payment.event) == "already counted"

    @rule(amount=st.integers(1, 100_000))
    def issue_a_credit(self, amount: int) -> None:
        with as_staff(), self.store.transaction() as uow:
            settlement.issue_credit(
                uow, self.organization_id, {"amount": amount, "reason": "Goodwill"}
            )
        self.model.credited += amount

    @rule(invoice=invoices)
    def void(self, invoice: Expected) -> None:
        voidable = not invoice.void and invoice.amount_paid == 0
        try:
            with as_staff(), self.store.transaction() as uow:
                invoicing.void_invoice(uow, invoice.id)
        except Conflict:
            assert not voidable
            return
        assert voidable
        invoice.void, invoice.amount_due = True, 0
        self.model.invoiced -= invoice.total

    # --- what must hold after every step -----------------------------------------------------

    @invariant()
    def invoices_add_up(self) -> None:
        with self.store.transaction() as uow:
            invoices = uow.session.scalars(
                select(Invoice).where(Invoice.billing_account_id == self.account_id)
            ).all()
            assert {invoice.id for invoice in invoices} == set(self.model.invoices)
            for invoice in invoices:
                expected = self.model.invoices[invoice.id]
                lines = invoice.line_items
                assert all(line.total == line.quantity * line.unit_price for line in lines)
                assert invoice.subtotal == sum(line.total for line in lines)
                assert invoice.tax == half_up(invoice.subtotal * self.tax_rate, 10_000)
                assert invoice.total == invoice.subtotal + invoice.tax == expected.total
                assert invoice.amount_due >= 0 and invoice.amount_paid >= 0
                assert (invoice.amount_due, invoice.amount_paid) == (
                    expected.amount_due,
                    expected.amount_paid,
                )
                if invoice.status == InvoiceStatus.VOID:
                    assert expected.void and invoice.amount_due == 0
                else:
                    assert invoice.amount_paid + invoice.amount_due == invoice.total
                    assert (invoice.status == InvoiceStatus.PAID) == (invoice.amount_due == 0)

    @invariant()
    def balance_is_payments_plus_credits_minus_invoiced(self) -> None:
        with self.store.transaction() as uow:
            account = uow.session.get(BillingAccount, self.account_id)
            credits = uow.session.scalar(
                select(func.coalesce(func.sum(Credit.amount), 0)).where(
                    Credit.billing_account_id == self.account_id
                )
            )
        assert account.balance == self.model.balance
        assert credits == self.model.credited + self.model.kept_as_credit

    @invariant()
    def the_ledger_explains_the_balance(self) -> None:
        lines: list[dict[str, Any]] = []
        with as_staff(), self.store.transaction() as uow:
            while True:
                page = ledger.account_ledger(
                    uow, self.organization_id, {"limit": 200, "offset": len(lines)}
                )
                lines += page["items"]
                if len(lines) >= page["total"]:
                    break
        assert sum(line["amount"] for line in lines) == self.model.balance
        assert (lines[-1]["balance_after"] if lines else 0) == self.model.balance


@pytest.fixture
def store(unit_of_work: Any) -> Iterator[Store]:
    """The run's database; the billing settings the machine changes are put back after."""
    store = Store()
    keys = (billing_settings.TAX_RATE_BASIS_POINTS, billing_settings.PRICE_PREFIX + PRICED)
    with store.transaction() as uow:
        model = uow.tables.system_setting
        saved = dict(
            uow.session.execute(select(model.key, model.value).where(model.key.in_(keys))).all()
        )
    try:
        yield store
    finally:
        with store.transaction() as uow:
            model = uow.tables.system_setting
            uow.session.execute(model.__table__.delete().where(model.key.in_(keys)))
            for key, value in saved.items():
                uow.session.add(model(id=cuid(), key=key, value=value))
        store.engine.dispose()


def test_every_account_balances_at_every_step(store: Store) -> None:
    BillingAccountMachine.store = store
    run_state_machine_as_test(
        BillingAccountMachine,
        settings=settings(
            max_examples=MACHINE_EXAMPLES,
            stateful_step_count=MACHINE_STEPS,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
