"""`python -m ops billing run --period YYYY-MM` starts a month's billing run (or joins the
one under way) and shows its progress until it ends; `python -m ops billing runs` lists
the runs; `python -m ops billing overdue [--as-of MOMENT]` moves overdue invoices and
accounts along as of that moment and prints the accounts it found late. They work on
billing's database as the suite itself: the running billing processes do a run's work,
and stopping the command (Ctrl-C) leaves the run going."""

from __future__ import annotations

import argparse
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from ops.database import unit_of_work
from ops.processes import local_signing_key
from ops.table import format_table
from services.billing import billing_runs, overdue
from services.billing.models import ACTIVE_RUN_STATUSES
from shared import config
from shared.errors import DomainError

POLL_SECONDS = 0.5
BAR_WIDTH = 30


def progress_line(run: dict[str, Any], elapsed: float) -> str:
    total, done, failed = run["total"], run["done"], run["failed"]
    finished = done + failed
    filled = BAR_WIDTH * finished // total if total else BAR_WIDTH
    rate = f"{finished / elapsed:,.0f} accounts/s" if elapsed > 0 else ""
    return (
        f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {finished:,}/{total:,} "
        f"{run['status']}, {failed:,} failed, {rate}"
    )


def run_rows(runs: list[dict[str, Any]]) -> list[tuple[object, ...]]:
    return [
        (
            run["id"], run["period"], run["status"], f"{run['done']:,}/{run['total']:,}",
            run["failed"], run["invoiced"], run["started_by"] or "-", run["created_at"],
            _duration(run),
        )
        for run in runs
    ]  # fmt: skip


def _duration(run: dict[str, Any]) -> str:
    """From the start to the end of the work, as staff waited for it."""
    if not run["finished_at"]:
        return "-"
    seconds = (
        datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["created_at"])
    ).total_seconds()
    return f"{seconds:.1f} s"


RUN_HEADERS = [
    "id", "period", "status", "done", "failed", "invoiced", "started by", "created", "took",
]  # fmt: skip


def _refused(exc: DomainError) -> int:
    print(f"error: {exc.message} {exc.fields or ''}".rstrip(), flush=True)
    return 1


def _sign_as_the_suite() -> None:
    """The run's `billing_run.started` event is signed like every event of the suite: with
    the environment's key, or the one `make up` keeps in CVT_VAR_DIR."""
    name = config.CONTEXT_SIGNING_KEY.name
    if not os.environ.get(name):
        os.environ[name] = local_signing_key(Path(config.CVT_VAR_DIR.get()).resolve())


def _run(args: argparse.Namespace) -> int:
    _sign_as_the_suite()
    try:
        with unit_of_work("billing") as uow:
            run, created = billing_runs.start_run(uow, {"period": args.period})
    except DomainError as exc:
        return _refused(exc)
    print(f"billing run {run['id']} for {run['period']}: {'started' if created else 'under way'}")
    began = time.monotonic()
    while True:
        with unit_of_work("billing") as uow:
            run = billing_runs.get_run(uow, run["id"])
        print("\r" + progress_line(run, time.monotonic() - began), end="", flush=True)
        if run["status"] not in ACTIVE_RUN_STATUSES:
            break
        time.sleep(POLL_SECONDS)
    print()
    if run["failures"]:
        rows = [
            (f["organization_id"], f["billing_account_id"], f["error"]) for f in run["failures"]
        ]
        print(format_table(["organization", "billing account", "error"], rows))
    return 0 if run["status"] == "COMPLETED" else 1


def _runs(args: argparse.Namespace) -> int:
    try:
        with unit_of_work("billing") as uow:
            page = billing_runs.list_runs(uow, {"limit": args.limit})
    except DomainError as exc:
        return _refused(exc)
    print(format_table(RUN_HEADERS, run_rows(page["items"])))
    if page["total"] > len(page["items"]):
        print(f"\n{len(page['items'])} of {page['total']} runs (--limit)")
    return 0


def _overdue(args: argparse.Namespace) -> int:
    _sign_as_the_suite()
    try:
        with unit_of_work("billing") as uow:
            late = overdue.run_overdue(uow, {"as_of": args.as_of} if args.as_of else {})
    except DomainError as exc:
        return _refused(exc)
    rows = [(account["organization_id"], account["status"]) for account in late]
    print(format_table(["organization", "account status"], rows))
    print(f"\n{len(late):,} account(s) with overdue invoices as of {args.as_of or 'now'}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "billing",
        help="month-end billing runs: start one and watch it, list them",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="start (or join) a month's run; progress until it ends")
    run.add_argument("--period", required=True, help="the month, YYYY-MM")
    run.set_defaults(run=_run)
    runs = actions.add_parser("runs", help="the runs, newest first")
    runs.add_argument("--limit", type=int, default=20)
    runs.set_defaults(run=_runs)
    late = actions.add_parser(
        "overdue", help="move overdue invoices and accounts along as of a moment (idempotent)"
    )
    late.add_argument("--as-of", help="an ISO 8601 moment with its offset; default: now")
    late.set_defaults(run=_overdue)
