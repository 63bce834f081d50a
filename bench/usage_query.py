"""Usage query: one organization's month of usage, through the gateway, out of many
stored events (10 million by default, written with INSERT ... SELECT generate_series, the
hourly rollups built from them), by wrk; against the raw SQL of the same query run straight
on PostgreSQL in the same run.

Two reports: by day (what the usage page shows; read from the hourly rollups) and by
invoice (which invoice billed what; read from the events themselves).
Target: p99 under 100 ms.
"""

from __future__ import annotations

import argparse
import time
import urllib.parse
from datetime import UTC, datetime

from sqlalchemy import create_engine, pool, text

from bench import wrk
from bench.results import Report, Row, ratio
from bench.rpc import percentile
from bench.stack import Stack

TARGET_P99_MS = 100.0
CHUNK = 1_000_000
MONTH = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
# Events spread over three months, so a month is a third of an organization's.
SPREAD_SECONDS = 92 * 86400
SPREAD_FROM = datetime(2026, 9, 1, tzinfo=UTC)
RAW_QUERIES = 200

RAW_SQL = {
    "day": (
        "SELECT date(timezone('UTC', hour)) AS day, sum(quantity), sum(events) "
        "FROM metering.usage_rollups WHERE organization_id = :org "
        "AND hour >= date_trunc('hour', CAST(:f AS timestamptz)) AND hour < :t "
        "GROUP BY 1 ORDER BY 1"
    ),
    "invoice": (
        "SELECT invoice_id, event_type, sum(quantity), count(*) FROM metering.usage_events "
        "WHERE organization_id = :org AND timestamp >= :f AND timestamp < :t "
        "GROUP BY invoice_id, event_type ORDER BY invoice_id NULLS LAST, event_type"
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=10_000_000, help="events stored in all")
    parser.add_argument(
        "--organizations",
        type=int,
        default=1000,
        help="organizations they belong to (one is measured)",
    )
    parser.add_argument("--seconds", type=int, default=15, help="length of each wrk run")


def generate(stack: Stack, organization_id: str, events: int, organizations: int) -> float:
    """Events of `organizations` organizations (the measured one among them), then their
    rollups; returns the seconds it took."""
    engine = create_engine(stack.env.database_url, poolclass=pool.NullPool)
    started = time.monotonic()
    try:
        for first in range(0, events, CHUNK):
            last = min(events, first + CHUNK) - 1
            wrk.progress(f"generating events: {first:,} of {events:,}")
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO metering.usage_events (id, organization_id, api_key_id, "
                        "event_type, quantity, timestamp, idempotency_key, received_at) "
                        "SELECT 'q' || lpad(to_hex(i), 24, '0'), "
                        "CASE WHEN i % :orgs = 0 THEN :org ELSE 'bench-org-' || (i % :orgs) END,"
                        " NULL, (ARRAY['pos.transaction','pos.refund','pos.receipt'])"
                        "[1 + i % 3], 1 + i % 5, "
                        "CAST(:spread_from AS timestamptz) + (i * 7919 % :spread) * interval '1s',"
                        " 'q-' || i, now() FROM generate_series(CAST(:first AS bigint), :last) i"
                    ),
                    {
                        "orgs": organizations,
                        "org": organization_id,
                        "first": first,
                        "last": last,
                        "spread": SPREAD_SECONDS,
                        "spread_from": SPREAD_FROM.isoformat(),
                    },
                )
        wrk.progress("building the hourly rollups")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO metering.usage_rollups (organization_id, hour, event_type, "
                    "api_key_id, quantity, events) SELECT organization_id, "
                    "date_trunc('hour', timestamp), event_type, coalesce(api_key_id, ''), "
                    "sum(quantity), count(*) FROM metering.usage_events "
                    "WHERE idempotency_key LIKE 'q-%' GROUP BY 1, 2, 3, 4 "
                    "ON CONFLICT (organization_id, hour, event_type, api_key_id) DO UPDATE "
                    "SET quantity = usage_rollups.quantity + excluded.quantity, "
                    "events = usage_rollups.events + excluded.events"
                )
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE metering.usage_events"))
            conn.execute(text("VACUUM ANALYZE metering.usage_rollups"))
    finally:
        engine.dispose()
    seconds = time.monotonic() - started
    wrk.progress(f"generated {events:,} events in {seconds:.0f} s", end=True)
    return seconds


def raw_timings(stack: Stack, organization_id: str, group_by: str) -> list[float]:
    engine = create_engine(stack.env.database_url, poolclass=pool.NullPool)
    params = {"org": organization_id, "f": MONTH[0], "t": MONTH[1]}
    samples = []
    try:
        with engine.connect() as conn:
            statement = text(RAW_SQL[group_by])
            for _ in range(10):
                conn.execute(statement, params).all()
            for done in range(RAW_QUERIES):
                started = time.perf_counter()
                conn.execute(statement, params).all()
                samples.append((time.perf_counter() - started) * 1000)
                if done % 20 == 0:
                    wrk.progress(f"raw SQL by {group_by}: {done} of {RAW_QUERIES}")
    finally:
        engine.dispose()
    wrk.progress(f"raw SQL by {group_by}: done", end=True)
    return samples


def run(stack: Stack, args: argparse.Namespace) -> Report:
    tenant = stack.new_tenant()
    generated_in = generate(stack, tenant.organization_id, args.events, args.organizations)
    bearer = tenant.owner_auth["Authorization"].split(" ", 1)[1]
    report = Report("usage-query")
    report.figures = {
        "events": args.events,
        "organizations": args.organizations,
        "generated_seconds": generated_in,
    }
    for group_by in ("day", "invoice"):
        query = urllib.parse.urlencode(
            {"from": MONTH[0].isoformat(), "to": MONTH[1].isoformat(), "group_by": group_by}
        )
        url = f"{stack.url}/v1/organizations/{tenant.organization_id}/usage?{query}"
        ours = wrk.run(
            f"GET usage by {group_by}",
            url,
            script="get.lua",
            seconds=args.seconds,
            threads=1,
            connections=4,
            env={"BENCH_BEARER": bearer},
        )
        raw = raw_timings(stack, tenant.organization_id, group_by)
        raw_p50, raw_p99 = percentile(raw, 0.5), percentile(raw, 0.99)
        report.add(
            Row(
                f"by {group_by}: p50",
                f"{ours.p50_ms:.1f} ms",
                f"{raw_p50:.1f} ms",
                ratio(ours.p50_ms, raw_p50),
            )
        )
        report.add(
            Row(
                f"by {group_by}: p99",
                f"{ours.p99_ms:.1f} ms",
                f"{raw_p99:.1f} ms",
                ratio(ours.p99_ms, raw_p99),
                f"< {TARGET_P99_MS:g} ms",
                ours.p99_ms < TARGET_P99_MS and ours.non_2xx == 0,
            )
        )
        report.figures[group_by] = {
            "gateway": ours.as_dict(),
            "raw_sql": {"queries": len(raw), "p50_ms": raw_p50, "p99_ms": raw_p99},
        }
    return report
