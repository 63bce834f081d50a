"""The billing run as a job, on the real database: starting it (once per period under way),
claiming its accounts in batches with SKIP LOCKED, concurrent workers, a crash in the middle
of a batch and the resumption, an account that fails alone.

The run covers every account in the test database; each test bills a month of the early
1980s no other test uses, and only the accounts it leased to have anything to bill then.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import eventlet
import pytest
from sqlalchemy import select

from services.billing import billing_runs
from services.billing.invoicing import Period
from services.billing.models import (
    BillingAccount,
    BillingRun,
    BillingRunItem,
    BillingRunItemStatus,
    Invoice,
    Service,
    ServiceStatus,
    ServiceType,
)
from services.billing.tests.test_payment_links import Store
from services.billing.tests.test_settlement_and_overdue import UnitOfWorkFactory, make_account
from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.ids import cuid

_months = (f"198{year}-{month:02d}" for year in range(10) for month in range(1, 13))
FEE = 3_000


def fresh_period() -> Period:
    return Period.month(next(_months))


def leased_accounts(
    unit_of_work: UnitOfWorkFactory, period: Period, count: int, fee: int = FEE
) -> list[BillingAccount]:
    """`count` accounts, each with two services leased for `period` only."""
    accounts = [make_account(unit_of_work) for _ in range(count)]
    with unit_of_work("billing") as uow:
        for account in accounts:
            for name in ("Till", "Care"):
                uow.session.add(
                    Service(
                        organization_id=account.organization_id,
                        type=ServiceType.POS_TERMINAL,
                        name=name,
                        monthly_fee=fee,
                        activated_at=period.start,
                        status=ServiceStatus.CANCELLED,
                        cancelled_at=period.end,
                    )
                )
    return accounts


class Metering:
    """Stands in for metering's two RPCs: records every claim, answers `usage` per
    organization, and can fail (a crash, an unreachable metering) or pause (so that
    concurrent batches interleave)."""

    def __init__(self, usage: dict[str, dict[str, int]] | None = None) -> None:
        self.usage = usage or {}
        self.claims: list[list[tuple[str, str]]] = []
        self.released: list[str] = []
        self.fail = False
        self.pause = 0.0

    def claim(self, period_end: str, claims: list[tuple[str, str]]) -> dict[str, dict[str, int]]:
        if self.fail:
            raise ConnectionError("metering is away")
        self.claims.append(list(claims))
        eventlet.sleep(self.pause)
        return {invoice: self.usage[org] for org, invoice in claims if org in self.usage}

    def release(self, invoice_id: str) -> int:
        self.released.append(invoice_id)
        return 1

    def calls(self) -> billing_runs.Usage:
        return billing_runs.Usage(self.claim, self.release)

    def claimed_organizations(self) -> Counter:
        return Counter(org for batch in self.claims for org, _ in batch)


def start(unit_of_work: UnitOfWorkFactory, as_user, period: Period) -> tuple[dict[str, Any], bool]:
    with as_user(is_staff=True, actor_id="staff-1"), unit_of_work("billing") as uow:
        return billing_runs.start_run(uow, {"period": period.label})


def run_state(unit_of_work: UnitOfWorkFactory, as_user, run_id: str) -> dict[str, Any]:
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        return billing_runs.get_run(uow, run_id)


def invoices_of(
    unit_of_work: UnitOfWorkFactory, accounts: list[BillingAccount], period: Period
) -> list[Invoice]:
    with unit_of_work("billing") as uow:
        return list(
            uow.session.scalars(
                select(Invoice).where(
                    Invoice.billing_account_id.in_([account.id for account in accounts]),
                    Invoice.period_start == period.start,
                )
            )
        )


def number_of(invoice: Invoice) -> int:
    return int(invoice.invoice_number.rsplit("-", 1)[1])


def work(unit_of_work: UnitOfWorkFactory, run_id: str, metering: Metering, **options: int) -> int:
    options = {"batch_size": 4, "workers": 2, **options}
    return billing_runs.work_on_run(Store(unit_of_work), run_id, metering.calls(), **options)


def test_starting_a_run_writes_it_and_an_item_per_open_account_and_answers_at_once(
    unit_of_work, as_user
) -> None:
    period = fresh_period()
    accounts = leased_accounts(unit_of_work, period, 3)
    run, created = start(unit_of_work, as_user, period)
    assert created
    assert (run["period"], run["status"], run["done"], run["failed"]) == (
        period.label,
        "QUEUED",
        0,
        0,
    )
    assert run["started_by"] == "staff-1"
    with unit_of_work("billing") as uow:
        items = dict(
            uow.session.execute(
                select(BillingRunItem.billing_account_id, BillingRunItem.status).where(
                    BillingRunItem.run_id == run["id"]
                )
            ).all()
        )
        open_accounts = uow.session.scalar(
            select(BillingAccount.id).where(BillingAccount.closed_at.is_(None)).limit(1)
        )
    assert run["total"] == len(items) >= 3
    assert {items[account.id] for account in accounts} == {BillingRunItemStatus.PENDING}
    assert open_accounts in items
    # The same period again, while under way: the same run, not a second one.
    again, created_again = start(unit_of_work, as_user, period)
    assert (again["id"], created_again) == (run["id"], False)
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        listed = billing_runs.list_runs(uow, {"limit": 200})
    assert run["id"] in [each["id"] for each in listed["items"]]


def test_a_run_is_for_staff_and_names_a_bad_period(unit_of_work, as_user) -> None:
    with as_user(cuid()), unit_of_work("billing") as uow, pytest.raises(Forbidden):
        billing_runs.start_run(uow, {"period": fresh_period().label})
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        with pytest.raises(ValidationFailed) as caught:
            billing_runs.start_run(uow, {"period": "1981-13"})
        assert "period" in caught.value.fields
        with pytest.raises(NotFound):
            billing_runs.get_run(uow, cuid())


def test_two_workers_bill_every_account_once_with_gapless_numbers(unit_of_work, as_user) -> None:
    period = fresh_period()
    accounts = leased_accounts(unit_of_work, period, 9)
    metering = Metering()
    metering.pause = 0.01  # both workers hold batches at the same time
    run, _ = start(unit_of_work, as_user, period)

    processed = work(unit_of_work, run["id"], metering, batch_size=4, workers=2)

    state = run_state(unit_of_work, as_user, run["id"])
    assert processed == state["total"] == state["done"]
    assert (state["status"], state["failed"], state["invoiced"]) == ("COMPLETED", 0, 9)
    assert state["started_at"] and state["finished_at"]
    invoices = invoices_of(unit_of_work, accounts, period)
    assert sorted(i.billing_account_id for i in invoices) == sorted(a.id for a in accounts)
    assert {i.total for i in invoices} == {2 * FEE}
    numbers = sorted(number_of(i) for i in invoices)
    assert numbers == list(range(numbers[0], numbers[0] + 9)), "one allocation per batch, no gap"
    # One claim per batch, never per account, and no account in two batches.
    counted = metering.claimed_organizations()
    assert {counted[a.organization_id] for a in accounts} == {1}
    assert all(len(batch) <= 4 for batch in metering.claims)
    # Drafts of accounts with nothing to bill in that month are gone.
    with unit_of_work("billing") as uow:
        drafts = uow.session.scalar(
            select(Invoice.id).where(
                Invoice.period_start == period.start, Invoice.finalized_at.is_(None)
            )
        )
    assert drafts is None


def test_concurrent_runs_of_one_period_over_several_workers_take_each_account_once(
    unit_of_work, as_user
) -> None:
    """Three workers (as three instances would) on one run, started twice at once."""
    period = fresh_period()
    accounts = leased_accounts(unit_of_work, period, 12)
    metering = Metering()
    metering.pause = 0.005
    pool = eventlet.GreenPool()
    started = list(pool.imap(lambda _: start(unit_of_work, as_user, period), range(2)))
    assert len({run["id"] for run, _ in started}) == 1
    assert sorted(created for _, created in started) == [False, True]
    run_id = started[0][0]["id"]

    list(pool.imap(lambda _: work(unit_of_work, run_id, metering, workers=1), range(3)))

    assert run_state(unit_of_work, as_user, run_id)["status"] == "COMPLETED"
    assert len(invoices_of(unit_of_work, accounts, period)) == 12
    assert set(metering.claimed_organizations().values()) == {1}


def test_a_crash_in_the_middle_of_a_batch_resumes_without_duplicates(unit_of_work, as_user) -> None:
    period = fresh_period()
    accounts = leased_accounts(unit_of_work, period, 6)
    metering = Metering()
    run, _ = start(unit_of_work, as_user, period)
    metering.fail = True  # drafts written and committed, then the worker's batch dies

    assert work(unit_of_work, run["id"], metering, workers=1) == 0
    state = run_state(unit_of_work, as_user, run["id"])
    assert (state["status"], state["done"]) == ("RUNNING", 0)
    assert all(i.finalized_at is None for i in invoices_of(unit_of_work, accounts, period))

    metering.fail = False
    work(unit_of_work, run["id"], metering)

    state = run_state(unit_of_work, as_user, run["id"])
    assert (state["status"], state["done"], state["invoiced"]) == ("COMPLETED", state["total"], 6)
    invoices = invoices_of(unit_of_work, accounts, period)
    assert len(invoices) == 6, "the drafts left by the crash were used, not doubled"
    assert all(i.invoice_number for i in invoices)


def test_items_a_dead_worker_held_are_skipped_then_resumed(unit_of_work, as_user) -> None:
    """A worker holding a batch when its process dies: while its transaction lives the
    others skip its items and cannot finish the run; when the database ends it, the
    items are PENDING again and the next pass bills them, once."""
    period = fresh_period()
    accounts = leased_accounts(unit_of_work, period, 5)
    run, _ = start(unit_of_work, as_user, period)
    metering = Metering()
    held = sorted(account.id for account in accounts)[:2]
    with unit_of_work("billing") as dying:
        locked = dying.session.scalars(
            select(BillingRunItem.billing_account_id)
            .where(BillingRunItem.run_id == run["id"], BillingRunItem.billing_account_id.in_(held))
            .with_for_update()
        ).all()
        assert sorted(locked) == held
        work(unit_of_work, run["id"], metering)
        state = run_state(unit_of_work, as_user, run["id"])
        assert state["status"] == "RUNNING"
        assert state["done"] == state["total"] - 2
        dying.session.rollback()  # the process is gone: its transaction with it

    work(unit_of_work, run["id"], metering)

    state = run_state(unit_of_work, as_user, run["id"])
    assert (state["status"], state["done"]) == ("COMPLETED", state["total"])
    assert len(invoices_of(unit_of_work, accounts, period)) == 5
    assert set(metering.claimed_organizations().values()) == {1}


def test_one_account_that_cannot_be_billed_fails_alone(unit_of_work, as_user) -> None:
    period = fresh_period()
    fine = leased_accounts(unit_of_work, period, 3)
    # Two services at the largest fee: a total beyond what an invoice can hold.
    [broken] = leased_accounts(unit_of_work, period, 1, fee=2_147_483_647)
    run, _ = start(unit_of_work, as_user, period)

    work(unit_of_work, run["id"], Metering(), batch_size=10, workers=1)

    state = run_state(unit_of_work, as_user, run["id"])
    assert (state["status"], state["failed"], state["done"]) == ("FAILED", 1, state["total"] - 1)
    [failure] = state["failures"]
    assert (failure["billing_account_id"], failure["organization_id"]) == (
        broken.id,
        broken.organization_id,
    )
    assert "out of range" in failure["error"]
    assert len(invoices_of(unit_of_work, fine, period)) == 3
    assert [i.finalized_at for i in invoices_of(unit_of_work, [broken], period)] == [None]


def test_usage_is_billed_and_usage_on_nothing_billable_is_released(unit_of_work, as_user) -> None:
    period = fresh_period()
    [leased] = leased_accounts(unit_of_work, period, 1)
    idle = make_account(unit_of_work)  # usage of a type without a price, nothing leased
    metering = Metering(
        {leased.organization_id: {"unpriced.type": 5}, idle.organization_id: {"unpriced.type": 7}}
    )
    run, _ = start(unit_of_work, as_user, period)
    work(unit_of_work, run["id"], metering)

    [idle_draft] = [
        invoice
        for batch in metering.claims
        for org, invoice in batch
        if org == idle.organization_id
    ]
    assert metering.released == [idle_draft]
    assert invoices_of(unit_of_work, [idle], period) == []
    assert len(invoices_of(unit_of_work, [leased], period)) == 1


def test_the_schedule_starts_a_month_once(unit_of_work, as_system) -> None:
    period = fresh_period()
    with as_system(), unit_of_work("billing") as uow:
        run_id = billing_runs.start_scheduled_run(uow, period)
    with as_system(), unit_of_work("billing") as uow:
        assert billing_runs.start_scheduled_run(uow, period) is None
        run = uow.session.get(BillingRun, run_id)
    assert (run.period, run.started_by) == (period.label, None)
    assert run_id in billing_runs.unfinished_runs(Store(unit_of_work))
