"""The month-end billing run as a job: staff start it and get its id at once; every billing
instance works on it in batches until each account of the run is invoiced.

Starting a run writes the run and one PENDING item per billing account open in the period
in one transaction (a period already under way answers that run instead). A batch claims
up to `batch_size` PENDING items, in account order, `FOR UPDATE SKIP LOCKED`, and keeps
them locked until it records them: concurrent workers, runs and instances never take the
same account, and a worker that dies leaves its items PENDING for the next. Its steps:

1. one committed transaction inserts the batch's draft invoices (unique per account and
   period: a draft left by a crash is found again, a finalized invoice is "already
   invoiced");
2. one RPC to metering claims the usage of every draft (idempotent per invoice);
3. in the claiming transaction: the drafts, then their accounts, locked in account order
   (as every other writer of invoices and accounts does: invoice, then account), their
   lines inserted at once, one allocation of invoice numbers for the batch, audit rows
   and `invoice.issued` events, the items marked done and the run's counters moved.

If step 3 fails, each account is tried alone (a savepoint each), so one bad account fails
alone, with its error on its item. A run whose items are all done is COMPLETED, or FAILED
when some failed (a new run retries them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    String,
    cast,
    column,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import insert

from services.billing import settings
from services.billing.catalog import terms_at
from services.billing.events import BillingRunStarted
from services.billing.invoicing import (
    Draft,
    InvoiceTerms,
    Line,
    Period,
    announce,
    finalize_invoices,
    service_lines,
    usage_lines,
    within_account_life,
)
from services.billing.models import (
    ACTIVE_RUN_STATUSES,
    BillingAccount,
    BillingRun,
    BillingRunItem,
    BillingRunItemStatus,
    BillingRunStatus,
    Invoice,
    Service,
)
from services.billing.schemas import (
    BillingRunFailureSchema,
    BillingRunJobSchema,
    BillingRunSchema,
)
from shared import context
from shared.authorization import require_staff
from shared.clock import utcnow
from shared.errors import NotFound
from shared.ids import cuid, is_cuid
from shared.pagination import paginate
from shared.schemas import PageQuerySchema, load
from shared.unit_of_work import Transactions, UnitOfWork

log = logging.getLogger(__name__)

# period end (ISO), [(organization id, invoice id)] -> {invoice id: {event type: quantity}}
ClaimUsageBatch = Callable[[str, list[tuple[str, str]]], dict[str, dict[str, int]]]
ReleaseUsage = Callable[[str], int]

INVOICED, ALREADY_INVOICED, NOTHING_TO_BILL = "invoiced", "already invoiced", "nothing to bill"
FAILURES_SHOWN = 200
MAX_ERROR = 500
ACTIVE = text("status IN ('QUEUED', 'RUNNING')")


# --- starting and reading runs --------------------------------------------------------------


def start_run(uow: UnitOfWork, data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Staff: start the run of a month, or get the one under way for it. Returns the run
    and whether it is new."""
    ctx = require_staff()
    period = Period.month(load(BillingRunSchema(), data)["period"])
    started_by = ctx.actor_id if ctx.actor_type == context.USER else None
    return _start(uow, period, started_by)


def start_scheduled_run(uow: UnitOfWork, period: Period) -> str | None:
    """The schedule's run of a month: started once, unless every earlier run of that month
    failed (then it tries again). Returns the new run's id, if one was started."""
    earlier = uow.session.scalar(
        select(func.count()).where(
            BillingRun.period == period.label, BillingRun.status != BillingRunStatus.FAILED
        )
    )
    if earlier:
        return None
    run, created = _start(uow, period, None)
    return run["id"] if created else None


def _start(uow: UnitOfWork, period: Period, started_by: str | None) -> tuple[dict[str, Any], bool]:
    run_id = uow.session.scalar(
        insert(BillingRun)
        .values(id=cuid(), period=period.label, total=0, started_by=started_by)
        .on_conflict_do_nothing(index_elements=[BillingRun.period], index_where=ACTIVE)
        .returning(BillingRun.id)
    )
    if run_id is None:
        under_way = uow.session.scalar(
            select(BillingRun).where(
                BillingRun.period == period.label, BillingRun.status.in_(ACTIVE_RUN_STATUSES)
            )
        )
        if under_way is None:  # it finished in between: this one starts anew
            return _start(uow, period, started_by)
        return BillingRunJobSchema().dump(under_way), False
    # A closed account's months before the one it closed in may still be owed; that
    # month was its final invoice, and nothing after it is billed.
    total = uow.session.execute(
        insert(BillingRunItem).from_select(
            ["run_id", "billing_account_id", "organization_id"],
            select(literal(run_id), BillingAccount.id, BillingAccount.organization_id).where(
                or_(BillingAccount.closed_at.is_(None), BillingAccount.closed_at >= period.end)
            ),
        )
    ).rowcount
    run = uow.session.get(BillingRun, run_id)
    run.total = total
    if total == 0:
        run.status, run.started_at = BillingRunStatus.COMPLETED, utcnow()
        run.finished_at = run.started_at
    uow.audit("billing_run.started", "BillingRun", run_id, {"period": period.label, "total": total})
    uow.emit(BillingRunStarted(run_id=run_id, period=period.label, total=total))
    return BillingRunJobSchema().dump(run), True


def get_run(uow: UnitOfWork, run_id: str) -> dict[str, Any]:
    require_staff()
    run = uow.session.get(BillingRun, run_id) if is_cuid(run_id) else None
    if run is None:
        raise NotFound("billing run not found", {"run_id": ["not found"]})
    failures = uow.session.execute(
        select(
            BillingRunItem.billing_account_id, BillingRunItem.organization_id, BillingRunItem.error
        )
        .where(
            BillingRunItem.run_id == run.id, BillingRunItem.status == BillingRunItemStatus.FAILED
        )
        .order_by(BillingRunItem.billing_account_id)
        .limit(FAILURES_SHOWN)
    ).all()
    detail = BillingRunJobSchema().dump(run)
    detail["failures"] = BillingRunFailureSchema(many=True).dump(
        {"billing_account_id": account, "organization_id": org, "error": error or ""}
        for account, org, error in failures
    )
    return detail


def list_runs(uow: UnitOfWork, query: dict[str, Any]) -> dict[str, Any]:
    require_staff()
    page = load(PageQuerySchema(), query)
    statement = select(BillingRun).order_by(BillingRun.created_at.desc(), BillingRun.id.desc())
    return paginate(uow.session, statement, page, BillingRunJobSchema().dump)


# --- working on runs ------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """The two calls to metering a batch makes (RPCs in the service, plain functions in tests)."""

    claim: ClaimUsageBatch
    release: ReleaseUsage


def unfinished_runs(store: Transactions) -> list[str]:
    with store.transaction() as uow:
        return list(
            uow.session.scalars(
                select(BillingRun.id)
                .where(BillingRun.status.in_(ACTIVE_RUN_STATUSES))
                .order_by(BillingRun.created_at, BillingRun.id)
            )
        )


def work_on_run(
    store: Transactions, run_id: str, usage: Usage, *, batch_size: int, workers: int
) -> int:
    """Work on the run with `workers` concurrent batches until nothing is left to claim;
    finish it if nothing is left at all. Returns the accounts this call processed. A
    failure to reach metering stops the work: the items stay PENDING for the next try."""
    with store.transaction() as uow:
        run = uow.session.get(BillingRun, run_id)
        if run is None or run.status not in ACTIVE_RUN_STATUSES:
            return 0
        period = Period.month(run.period)
        uow.session.execute(
            update(BillingRun)
            .where(BillingRun.id == run_id, BillingRun.status == BillingRunStatus.QUEUED)
            .values(status=BillingRunStatus.RUNNING, started_at=utcnow())
        )

    def keep_claiming() -> int:
        processed = 0
        try:
            while claimed := process_batch(store, run_id, period, usage, batch_size):
                processed += claimed
        except Exception:
            log.warning("billing run %s: stopped working on it", run_id, exc_info=True)
        return processed

    # Green threads in the services (the launcher monkey-patches threading).
    with ThreadPoolExecutor(workers) as pool:
        processed = sum(pool.map(lambda _: keep_claiming(), range(workers)))
    finish_if_done(store, run_id)
    return processed


def finish_if_done(store: Transactions, run_id: str) -> bool:
    """COMPLETED (or FAILED, if an account failed) once no item is PENDING. Items a batch
    holds are PENDING until it commits, so only the last batch's worker finishes a run."""
    with store.transaction() as uow:
        finished = uow.session.execute(
            update(BillingRun)
            .where(
                BillingRun.id == run_id,
                BillingRun.status.in_(ACTIVE_RUN_STATUSES),
                ~exists().where(
                    BillingRunItem.run_id == run_id,
                    BillingRunItem.status == BillingRunItemStatus.PENDING,
                ),
            )
            .values(finished_at=utcnow())
            .returning(BillingRun.failed, BillingRun.period, BillingRun.total)
        ).first()
        if finished is None:
            return False
        status = BillingRunStatus.FAILED if finished.failed else BillingRunStatus.COMPLETED
        uow.session.execute(update(BillingRun).where(BillingRun.id == run_id).values(status=status))
        uow.audit(
            "billing_run.finished",
            "BillingRun",
            run_id,
            {"period": finished.period, "status": status.value, "failed": finished.failed},
        )
    log.info(
        "billing run %s (%s): %s, %d account(s), %d failed",
        run_id, finished.period, status.value, finished.total, finished.failed,
    )  # fmt: skip
    return True


@dataclass
class Item:
    billing_account_id: str
    organization_id: str
    invoice_id: str | None = None
    result: str | None = None
    invoice_number: str | None = None
    error: str | None = None


def process_batch(
    store: Transactions,
    run_id: str,
    period: Period,
    usage: Usage,
    batch_size: int,
) -> int:
    """Claim and invoice up to `batch_size` accounts of the run; returns how many were
    claimed (0: none left that another worker does not hold)."""
    with store.transaction() as uow:
        items = [
            Item(account_id, organization_id)
            for account_id, organization_id in uow.session.execute(
                select(BillingRunItem.billing_account_id, BillingRunItem.organization_id)
                .where(
                    BillingRunItem.run_id == run_id,
                    BillingRunItem.status == BillingRunItemStatus.PENDING,
                )
                .order_by(BillingRunItem.billing_account_id)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
            )
        ]
        if not items:
            return 0
        _find_drafts(store, period, items)
        open_drafts = [item for item in items if item.result is None]
        claimed = (
            usage.claim(
                period.end.isoformat(),
                [(item.organization_id, item.invoice_id) for item in open_drafts],
            )
            if open_drafts
            else {}
        )
        try:
            with uow.session.begin_nested():
                finalized = _finalize(uow, period, open_drafts, claimed)
        except Exception:
            log.warning(
                "billing run %s: a batch of %d failed; trying each account alone",
                run_id, len(open_drafts), exc_info=True,
            )  # fmt: skip
            finalized = []
            for item in open_drafts:
                try:
                    with uow.session.begin_nested():
                        finalized += _finalize(uow, period, [item], claimed)
                except Exception as exc:
                    log.exception(
                        "billing run %s: account %s failed", run_id, item.billing_account_id
                    )
                    item.result, item.error = None, _describe(exc)
        for draft in finalized:
            announce(uow, draft.invoice, draft.account)
        _discard_empty_drafts(uow, items, claimed, usage.release)
        _record(uow, run_id, items)
    return len(items)


def _describe(exc: BaseException) -> str:
    """The error's first line: a database error goes on with its statement and values."""
    first_line = next(iter(str(exc).splitlines()), "")
    return f"{type(exc).__name__}: {first_line}"[:MAX_ERROR]


def _find_drafts(store: Transactions, period: Period, items: list[Item]) -> None:
    """Each item's draft invoice, made now if missing and committed before its usage is
    claimed; an item whose invoice is already final is done ("already invoiced")."""
    with store.transaction() as uow:
        uow.session.execute(
            insert(Invoice)
            .values(
                [
                    {
                        "id": cuid(),
                        "billing_account_id": item.billing_account_id,
                        "period_start": period.start,
                        "period_end": period.end,
                        "subtotal": 0,
                        "total": 0,
                        "amount_due": 0,
                    }
                    for item in items
                ]
            )
            .on_conflict_do_nothing(index_elements=["billing_account_id", "period_start"])
        )
        invoices = {
            account_id: (invoice_id, number, finalized_at)
            for invoice_id, account_id, number, finalized_at in uow.session.execute(
                select(
                    Invoice.id, Invoice.billing_account_id, Invoice.invoice_number,
                    Invoice.finalized_at,
                ).where(
                    Invoice.billing_account_id.in_([item.billing_account_id for item in items]),
                    Invoice.period_start == period.start,
                )
            )
        }  # fmt: skip
    for item in items:
        found = invoices.get(item.billing_account_id)
        if found is None:  # a closing found nothing to bill and removed the draft meanwhile
            item.result = NOTHING_TO_BILL
            continue
        item.invoice_id, number, finalized_at = found
        if finalized_at is not None:
            item.result, item.invoice_number = ALREADY_INVOICED, number


def _finalize(
    uow: UnitOfWork, period: Period, items: list[Item], claimed: dict[str, dict[str, int]]
) -> list[Draft]:
    """Lock the items' drafts, then their accounts, in account order; finalize those with
    something to bill. Sets each item's result."""
    if not items:
        return []
    by_invoice = {item.invoice_id: item for item in items}
    invoices = uow.session.scalars(
        select(Invoice)
        .where(Invoice.id.in_(list(by_invoice)))
        .order_by(Invoice.billing_account_id)
        .with_for_update()
    ).all()
    accounts = {
        account.id: account
        for account in uow.session.scalars(
            select(BillingAccount)
            .where(BillingAccount.id.in_([invoice.billing_account_id for invoice in invoices]))
            .order_by(BillingAccount.id)
            .with_for_update()
        )
    }
    services: dict[str, list[Service]] = {}
    for service in uow.session.scalars(
        select(Service).where(
            Service.organization_id.in_([item.organization_id for item in items]),
            Service.activated_at < period.end,
        )
    ):
        services.setdefault(service.organization_id, []).append(service)
    terms = terms_at(uow, [s for listed in services.values() for s in listed], period.start)
    prices = settings.price_table(uow)
    drafts = []
    for item in items:
        item.result = NOTHING_TO_BILL
    for invoice in invoices:
        item = by_invoice[invoice.id]
        if invoice.finalized_at is not None:  # a closing got there first
            item.result, item.invoice_number = ALREADY_INVOICED, invoice.invoice_number
            continue
        account = accounts[invoice.billing_account_id]
        lines = _lines(invoice, account, period, services, terms, prices, claimed)
        if lines:
            drafts.append(Draft(invoice, account, lines))
    finalize_invoices(uow, drafts, InvoiceTerms.current(uow))
    for draft in drafts:
        item = by_invoice[draft.invoice.id]
        item.result, item.invoice_number = INVOICED, draft.invoice.invoice_number
    return drafts


def _lines(
    invoice: Invoice,
    account: BillingAccount,
    period: Period,
    services: dict[str, list[Service]],
    terms: dict,
    prices: dict[str, dict[str, int]],
    claimed: dict[str, dict[str, int]],
) -> list[Line]:
    within = within_account_life(period, account.closed_at)
    if within is None:
        return []
    invoice.period_end = within.end
    return service_lines(services.get(account.organization_id, []), within, terms) + usage_lines(
        claimed.get(invoice.id, {}), prices
    )


def _discard_empty_drafts(
    uow: UnitOfWork,
    items: Iterable[Item],
    claimed: dict[str, dict[str, int]],
    release: ReleaseUsage,
) -> None:
    """Drafts with nothing to bill go; usage claimed for one is released first (a crash
    in between leaves the draft, and the redo claims the usage again)."""
    empty = [item for item in items if item.result == NOTHING_TO_BILL and item.invoice_id]
    for item in empty:
        if claimed.get(item.invoice_id):
            release(item.invoice_id)
    if empty:
        uow.session.execute(
            delete(Invoice).where(
                Invoice.id.in_([item.invoice_id for item in empty]),
                Invoice.finalized_at.is_(None),
            )
        )


def _record(uow: UnitOfWork, run_id: str, items: list[Item]) -> None:
    """The items' outcomes in one statement, and the run's counters."""
    outcomes = values(
        column("billing_account_id", String),
        column("status", String),
        column("result", String),
        column("invoice_number", String),
        column("error", String),
        name="outcomes",
    ).data(
        [
            (
                item.billing_account_id,
                (BillingRunItemStatus.FAILED if item.error else BillingRunItemStatus.DONE).value,
                item.result,
                item.invoice_number,
                item.error,
            )
            for item in items
        ]
    )
    uow.session.execute(
        update(BillingRunItem)
        .where(
            BillingRunItem.run_id == run_id,
            BillingRunItem.billing_account_id == outcomes.c.billing_account_id,
        )
        .values(
            status=cast(outcomes.c.status, BillingRunItem.status.type),
            result=outcomes.c.result,
            invoice_number=outcomes.c.invoice_number,
            error=outcomes.c.error,
            finished_at=utcnow(),
        )
    )
    failed = sum(1 for item in items if item.error)
    uow.session.execute(
        update(BillingRun)
        .where(BillingRun.id == run_id)
        .values(
            done=BillingRun.done + len(items) - failed,
            failed=BillingRun.failed + failed,
            invoiced=BillingRun.invoiced + sum(1 for item in items if item.result == INVOICED),
        )
    )
