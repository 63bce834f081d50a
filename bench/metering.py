"""Metering benchmarks: bulk ingest and usage reports, each against a raw baseline
measured in the same run on the same database.

    .venv/bin/python -m bench.metering [--events 200000] [--report-events 2000000]

1. Ingest: `ingest.record_usage` (dedupe by idempotency key + hourly rollups, 1000-event
   batches, one transaction each) against a raw multi-row INSERT of the same rows into a
   bare table with no constraint and no rollup.
2. Report: `usage.usage_report` (reads the rollups) against the same GROUP BY over the
   raw events, for one organization's month of usage.

Runs on a throwaway database on the server of DATABASE_URL, dropped at the end.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from psycopg2.extras import execute_values
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from ops.table import format_table
from services.metering import ingest, usage
from services.metering.models import tables
from shared import config, context, migrations
from shared.ids import cuid
from shared.unit_of_work import UnitOfWork

BATCH = 1000
EVENT_TYPES = ("pos.transaction", "pos.refund", "pos.receipt")
MONTH_START = datetime(2026, 10, 1, tzinfo=UTC)
REPORT_QUERY = {
    "from": MONTH_START.isoformat(),
    "to": (MONTH_START + timedelta(days=31)).isoformat(),
}


def progress(label: str, done: int, total: int, started: float) -> None:
    rate = done / max(time.perf_counter() - started, 1e-9)
    sys.stdout.write(f"\r  {label}: {done:,}/{total:,} ({rate:,.0f}/s)   ")
    sys.stdout.flush()
    if done >= total:
        sys.stdout.write("\n")


def make_batches(organization_id: str, total: int, keys: list[str]) -> list[dict]:
    batches = []
    for start in range(0, total, BATCH):
        events = [
            {
                "event_type": random.choice(EVENT_TYPES),
                "quantity": random.randint(1, 5),
                "timestamp": (
                    MONTH_START + timedelta(seconds=random.randrange(30 * 86400))
                ).isoformat(),
                "idempotency_key": f"e-{start + i}",
            }
            for i in range(min(BATCH, total - start))
        ]
        batches.append(
            {
                "organization_id": organization_id,
                "api_key_id": random.choice(keys),
                "events": events,
            }
        )
    return batches


def timed(label: str, batches: list[dict], write: Callable[[dict], None]) -> float:
    total = sum(len(b["events"]) for b in batches)
    started = time.perf_counter()
    done = 0
    for batch in batches:
        write(batch)
        done += len(batch["events"])
        if done % (BATCH * 20) == 0 or done == total:
            progress(label, done, total, started)
    return total / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000, help="events to ingest")
    parser.add_argument(
        "--report-events", type=int, default=2_000_000, help="events behind the report"
    )
    args = parser.parse_args()

    server = make_url(config.DATABASE_URL.get()).set(database="postgres")
    name = f"cvt_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        run(url, args.events, args.report_events)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run(url: str, n_ingest: int, n_report: int) -> None:
    migrations.upgrade("metering", url)
    engine = create_engine(url, pool_size=2)
    factory = sessionmaker(engine, expire_on_commit=False)
    keys = [cuid() for _ in range(5)]
    rows: list[tuple[str, ...]] = []

    print(f"1. ingest {n_ingest:,} events in batches of {BATCH}")
    org = cuid()
    batches = make_batches(org, n_ingest, keys)

    def record(batch: dict) -> None:
        with UnitOfWork(factory, tables) as uow:
            ingest.record_usage(uow, batch)

    raw = engine.raw_connection()
    with raw.cursor() as cur:
        cur.execute(
            "CREATE TABLE metering.raw_events (id text, organization_id text, api_key_id text, "
            "event_type text, quantity int, timestamp timestamptz, idempotency_key text)"
        )
    raw.commit()

    def insert_raw(batch: dict) -> None:
        with raw.cursor() as cur:
            execute_values(
                cur,
                "INSERT INTO metering.raw_events VALUES %s",
                [
                    (
                        cuid(),
                        batch["organization_id"],
                        batch["api_key_id"],
                        e["event_type"],
                        e["quantity"],
                        e["timestamp"],
                        e["idempotency_key"],
                    )
                    for e in batch["events"]
                ],
                page_size=BATCH,
            )
        raw.commit()

    baseline = timed("raw INSERT (baseline)", batches, insert_raw)
    ours = timed("record_usage", batches, record)
    resend = timed("record_usage, all duplicates", batches, record)
    rows += [
        ("ingest: raw INSERT, no dedupe/rollups", f"{baseline:,.0f} events/s", "1.00"),
        ("ingest: record_usage", f"{ours:,.0f} events/s", f"{ours / baseline:.2f}"),
        (
            "ingest: record_usage, resent duplicates",
            f"{resend:,.0f} events/s",
            f"{resend / baseline:.2f}",
        ),
    ]

    print(f"2. usage report over {n_report:,} events of one organization (one month)")
    big = cuid()
    timed("loading", make_batches(big, n_report, keys), record)
    with engine.connect() as conn:
        conn.execute(text("ANALYZE metering.usage_events"))
        conn.execute(text("ANALYZE metering.usage_rollups"))
        conn.commit()
    context.bind(context.CallContext(actor_type=context.SYSTEM))
    for group_by, column in (
        ("day", "date(timezone('UTC', timestamp))"),
        ("event_type", "event_type"),
    ):
        raw_sql = text(
            f"SELECT {column}, sum(quantity), count(*) FROM metering.usage_events "
            "WHERE organization_id = :org AND timestamp >= :f AND timestamp < :t GROUP BY 1"
        )
        with engine.connect() as conn:
            raw_ms = best_ms(partial(raw_report, conn, raw_sql, big))
        with UnitOfWork(factory, tables) as uow:
            ours_ms = best_ms(partial(our_report, uow, big, group_by))
        rows += [
            (f"report by {group_by}: GROUP BY over events", f"{raw_ms:,.1f} ms", "1.00"),
            (
                f"report by {group_by}: usage_report (rollups)",
                f"{ours_ms:,.1f} ms",
                f"{ours_ms / raw_ms:.3f}",
            ),
        ]
    print()
    print(format_table(["measure", "result", "ratio to baseline"], rows))
    raw.close()
    engine.dispose()


def raw_report(conn: Any, statement: Any, organization_id: str) -> Any:
    params = {"org": organization_id, "f": REPORT_QUERY["from"], "t": REPORT_QUERY["to"]}
    return conn.execute(statement, params).all()


def our_report(uow: UnitOfWork, organization_id: str, group_by: str) -> Any:
    return usage.usage_report(uow, organization_id, {**REPORT_QUERY, "group_by": group_by})


def best_ms(fn: Callable[[], object], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


if __name__ == "__main__":
    main()
