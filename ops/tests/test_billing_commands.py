"""`python -m ops billing run|runs` on this run's database: the command starts the month's
run and follows it while a billing worker (here: in this process) does the work."""

from __future__ import annotations

import eventlet
import pytest
from sqlalchemy import select

from ops.__main__ import main
from ops.billing import progress_line
from services.billing import billing_runs
from services.billing.models import BillingRun
from services.billing.tests.test_payment_links import Store
from shared.waiting import wait_until

PERIOD = "1979-03"  # no other test bills it: nobody has anything to bill then


def test_a_run_started_from_ops_shows_its_progress_until_it_ends(
    unit_of_work, capsys: pytest.CaptureFixture[str]
) -> None:
    def run_id() -> str | None:
        with unit_of_work("billing") as uow:
            return uow.session.scalar(select(BillingRun.id).where(BillingRun.period == PERIOD))

    def billing_worker() -> int:
        found = wait_until(run_id, 10, "the run ops starts")
        nothing_used = billing_runs.Usage(lambda period_end, claims: {}, lambda invoice: 0)
        return billing_runs.work_on_run(
            Store(unit_of_work), found, nothing_used, batch_size=50, workers=1
        )

    worker = eventlet.spawn(billing_worker)
    assert main(["billing", "run", "--period", PERIOD]) == 0
    processed = worker.wait()

    out = capsys.readouterr().out
    assert f"billing run {run_id()} for {PERIOD}: started" in out
    last = out.rstrip().splitlines()[-1].rsplit("\r", 1)[-1]
    assert last.startswith(f"[{'#' * 30}] {processed:,}/{processed:,} COMPLETED, 0 failed")

    assert main(["billing", "runs", "--limit", "200"]) == 0
    listed = capsys.readouterr().out
    assert any(run_id() in line and PERIOD in line for line in listed.splitlines())


def test_a_bad_month_is_named_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["billing", "run", "--period", "1979-13"]) == 1
    assert "period" in capsys.readouterr().out


def test_the_progress_bar_fills_with_finished_accounts() -> None:
    run = {"total": 200, "done": 90, "failed": 10, "status": "RUNNING"}
    assert progress_line(run, 2.0) == (
        f"[{'#' * 15}{'.' * 15}] 100/200 RUNNING, 10 failed, 50 accounts/s"
    )


def test_overdue_as_of_a_moment_prints_the_late_accounts(
    unit_of_work, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing fell due before 1970: the run moves nothing, and lists the accounts other
    # tests left with overdue invoices, one row each, under a header and above a count.
    assert main(["billing", "overdue", "--as-of", "1970-01-01T00:00:00Z"]) == 0
    lines = capsys.readouterr().out.rstrip().splitlines()
    assert lines[0].split() == ["organization", "account", "status"]
    rows = lines[2:-2]
    assert lines[-1] == f"{len(rows)} account(s) with overdue invoices as of 1970-01-01T00:00:00Z"


def test_an_overdue_run_for_no_moment_names_the_field(
    unit_of_work, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["billing", "overdue", "--as-of", "yesterday"]) == 1
    assert "as_of" in capsys.readouterr().out
