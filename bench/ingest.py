"""Usage ingest, end to end: 1,000-event batches POSTed through the gateway by wrk for a
while, from the first request to the last accepted event counted in the usage report;
every accepted event stored exactly once (no loss, no double). Baseline, in the same run:
the same batches written by batched `INSERT ... ON CONFLICT DO NOTHING` straight into a
copy of the events table (its constraints and indexes included).

Target: at least 25,000 events/s end to end, request p99 under 250 ms.
"""

from __future__ import annotations

import argparse
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from psycopg2.extras import execute_values
from sqlalchemy import create_engine, pool

from bench import profile, wrk
from bench.results import Report, Row, ratio
from bench.stack import Stack, Tenant, var_dir
from shared.clock import utcnow
from shared.ids import cuid
from shared.waiting import wait_until

TARGET_EVENTS_PER_SECOND = 25_000
TARGET_P99_MS = 250.0
BATCH = 1000
EVENT_TYPE = "pos.transaction"
# How long the events accepted by the end of the load may take to be counted.
COUNTED_WITHIN_SECONDS = 600


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=int, default=60, help="how long wrk sends")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--baseline-seconds", type=int, default=15)
    parser.add_argument("--profile", action="store_true", help="py-spy the gateway and metering")


@dataclass(frozen=True)
class Accepted:
    """What came of a load: the requests answered 202 (by X-Request-Id) and wrk's view."""

    request_ids: list[str]
    load: wrk.WrkResult
    started: float

    @property
    def events(self) -> int:
        return len(self.request_ids) * BATCH


def send_batches(
    stack: Stack,
    tenant: Tenant,
    label: str,
    seconds: int,
    connections: int,
    delay_ms: int = 0,
    quiet: bool = False,
) -> Accepted:
    """wrk POSTing 1,000-event batches with keys no other run uses."""
    run_id = uuid.uuid4().hex[:8]
    accepted_dir = var_dir("accepted", run_id)
    started = time.monotonic()
    load = wrk.run(
        label,
        f"{stack.url}/v1/usage-events",
        script="usage_batches.lua",
        seconds=seconds,
        threads=2,
        connections=connections,
        env={
            "BENCH_API_KEY": tenant.api_key,
            "BENCH_RUN": run_id,
            "BENCH_BATCH": str(BATCH),
            "BENCH_ACCEPTED_DIR": str(accepted_dir),
            "BENCH_DELAY_MS": str(delay_ms),
        },
        quiet=quiet,
    )
    accepted = Accepted(read_accepted(accepted_dir), load, started)
    shutil.rmtree(accepted_dir)
    return accepted


def read_accepted(directory: Path) -> list[str]:
    return [line for path in sorted(directory.glob("*.txt")) for line in path.read_text().split()]


def counted_events(stack: Stack, organization_id: str) -> int:
    """Events of the organization in the totals the usage report reads (the rollups)."""
    rows = stack.sql(
        "SELECT coalesce(sum(events), 0) FROM metering.usage_rollups "
        "WHERE organization_id = :org AND event_type = :type",
        org=organization_id,
        type=EVENT_TYPE,
    )
    return int(rows[0][0])


def stored_of_requests(stack: Stack, organization_id: str, request_ids: list[str]) -> int:
    """Stored events whose batch's request was answered 202 (keys are <request id>-<n>)."""
    rows = stack.sql(
        "SELECT count(*) FROM metering.usage_events WHERE organization_id = :org "
        "AND substring(idempotency_key from '^(.*)-[0-9]+$') = ANY(:ids)",
        org=organization_id,
        ids=request_ids,
    )
    return int(rows[0][0])


def raw_baseline(stack: Stack, seconds: int) -> float:
    """Events/s of 1,000-row `INSERT ... ON CONFLICT DO NOTHING` batches, one transaction
    each, into a copy of metering.usage_events with its unique key and indexes."""
    engine = create_engine(stack.env.database_url, poolclass=pool.NullPool)
    raw = engine.raw_connection()
    organization_id = cuid()
    try:
        with raw.cursor() as cur:
            cur.execute(
                "CREATE TABLE metering.bench_raw_events (LIKE metering.usage_events INCLUDING ALL)"
            )
        raw.commit()
        written = 0
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            wrk.progress(f"raw INSERT baseline: {elapsed:4.0f} s of {seconds} s")
            rows = [
                (cuid(), organization_id, None, EVENT_TYPE, None, 1, f"raw-{written + i}")
                for i in range(BATCH)
            ]
            with raw.cursor() as cur:
                execute_values(
                    cur,
                    "INSERT INTO metering.bench_raw_events (id, organization_id, api_key_id, "
                    "event_type, event_data, quantity, idempotency_key, timestamp, "
                    "received_at) VALUES %s ON CONFLICT (organization_id, idempotency_key) "
                    "DO NOTHING",
                    rows,
                    template="(%s, %s, %s, %s, %s, %s, %s, now(), now())",
                    page_size=BATCH,
                )
            raw.commit()
            written += BATCH
        rate = written / (time.monotonic() - started)
        wrk.progress("raw INSERT baseline: done", end=True)
        with raw.cursor() as cur:
            cur.execute("DROP TABLE metering.bench_raw_events")
        raw.commit()
        return rate
    finally:
        raw.close()
        engine.dispose()


def wait_counted(stack: Stack, tenant: Tenant, accepted: Accepted) -> float:
    """Seconds from the first request until every accepted event is counted."""

    def all_counted() -> bool:
        counted = counted_events(stack, tenant.organization_id)
        wrk.progress(f"counted {counted:,} of {accepted.events:,} accepted events")
        return counted >= accepted.events and (
            stored_of_requests(stack, tenant.organization_id, accepted.request_ids)
            == accepted.events
        )

    wait_until(all_counted, COUNTED_WITHIN_SECONDS, "every accepted event to be counted", 0.2)
    elapsed = time.monotonic() - accepted.started
    wrk.progress(f"all {accepted.events:,} accepted events counted", end=True)
    return elapsed


def run(stack: Stack, args: argparse.Namespace) -> Report:
    tenant = stack.new_tenant()
    baseline = raw_baseline(stack, args.baseline_seconds)
    with profile.processes(stack, args.profile, "ingest", ("gateway", "metering")) as profiles:
        accepted = send_batches(
            stack, tenant, "POST /v1/usage-events", args.seconds, args.connections
        )
        end_to_end = wait_counted(stack, tenant, accepted)
    stored, distinct, report_quantity = check_once(stack, tenant)
    load = accepted.load
    rate = accepted.events / end_to_end
    report = Report("ingest")
    report.add(
        Row(
            "events/s, first request to last counted",
            f"{rate:,.0f}",
            f"{baseline:,.0f}",
            ratio(rate, baseline),
            f">= {TARGET_EVENTS_PER_SECOND:,}",
            rate >= TARGET_EVENTS_PER_SECOND,
        )
    )
    accepted_rate = accepted.events / load.seconds
    report.add(
        Row(
            "events/s accepted (202)",
            f"{accepted_rate:,.0f}",
            f"{baseline:,.0f}",
            ratio(accepted_rate, baseline),
        )
    )
    report.add(
        Row(
            "request p50 / p99",
            f"{load.p50_ms:.0f} / {load.p99_ms:.0f} ms",
            target=f"p99 < {TARGET_P99_MS:g} ms",
            met=load.p99_ms < TARGET_P99_MS,
        )
    )
    report.add(Row("events accepted / counted after", f"{accepted.events:,} / {end_to_end:.1f} s"))
    # A request wrk abandoned when its time was up may still have been accepted: stored,
    # and counted in the report, without a 202 seen.
    unseen = stored - accepted.events
    report.add(
        Row(
            "lost (accepted, not stored)",
            "0" if unseen >= 0 else str(-unseen),
            target="0",
            met=unseen >= 0,
        )
    )
    report.add(
        Row("doubled (stored twice)", str(stored - distinct), target="0", met=stored == distinct)
    )
    report.add(
        Row(
            "usage report = stored rows",
            f"{report_quantity:,} = {stored:,}",
            target="equal",
            met=report_quantity == stored,
        )
    )
    report.figures = {
        "load": load.as_dict(),
        "accepted_events": accepted.events,
        "stored_events": stored,
        "unanswered_but_stored": max(unseen, 0),
        "end_to_end_seconds": end_to_end,
        "end_to_end_events_per_second": rate,
        "baseline_events_per_second": baseline,
    }
    if args.profile:
        report.figures["profile"] = {name: p.summary for name, p in profiles.items()}
    return report


def check_once(stack: Stack, tenant: Tenant) -> tuple[int, int, int]:
    """(stored rows, distinct keys among them, quantity in the usage report)."""
    stored, distinct = stack.sql(
        "SELECT count(*), count(DISTINCT idempotency_key) FROM metering.usage_events "
        "WHERE organization_id = :org AND event_type = :type",
        org=tenant.organization_id,
        type=EVENT_TYPE,
    )[0]
    now = utcnow()
    response = stack.http(
        "GET",
        f"/v1/organizations/{tenant.organization_id}/usage",
        params={
            "from": (now - timedelta(days=1)).isoformat(),
            "to": (now + timedelta(days=1)).isoformat(),
            "group_by": "event_type",
        },
        headers=tenant.owner_auth,
    )
    response.raise_for_status()
    quantity = sum(
        row["quantity"] for row in response.json()["rows"] if row["event_type"] == EVENT_TYPE
    )
    return int(stored), int(distinct), quantity
