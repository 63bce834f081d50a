"""Event to billable: how long after its 202 one event is in the totals billing reads
(stored in metering.usage_events, where billing's usage claim finds it), while wrk sends
usage batches through the gateway at half the ingest target. A probe terminal of another
organization sends one event at a time and watches for it in the table.

Target: p99 under 2 s.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid

import requests
from sqlalchemy import create_engine, pool

from bench import ingest, wrk
from bench.results import Report, Row
from bench.rpc import percentile
from bench.stack import Stack, Tenant

TARGET_P99_SECONDS = 2.0
POLL_SECONDS = 0.01
PROBE_PAUSE_SECONDS = 0.1
# Half of the ingest target (25,000 events/s).
HALF_RATE = 12_500
LOAD_CONNECTIONS = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=int, default=60, help="how long the load runs")
    parser.add_argument(
        "--events-per-second",
        type=int,
        default=HALF_RATE,
        help="rate of the background load (at most)",
    )


def probe(stack: Stack, tenant: Tenant, until: float) -> list[float]:
    """Seconds from each probe event's 202 to its row being visible, one event at a time."""
    engine = create_engine(stack.env.database_url, poolclass=pool.NullPool)
    raw = engine.raw_connection()
    raw.autocommit = True
    session = requests.Session()
    session.headers["X-API-Key"] = tenant.api_key
    samples: list[float] = []
    try:
        with raw.cursor() as cur:
            while time.monotonic() < until:
                key = f"probe-{uuid.uuid4().hex}"
                answer = session.post(
                    f"{stack.url}/v1/usage-events",
                    json={"event_type": ingest.EVENT_TYPE, "quantity": 1, "idempotency_key": key},
                    timeout=30,
                )
                accepted_at = time.monotonic()
                answer.raise_for_status()
                while True:
                    cur.execute(
                        "SELECT 1 FROM metering.usage_events "
                        "WHERE organization_id = %s AND idempotency_key = %s",
                        (tenant.organization_id, key),
                    )
                    if cur.fetchone():
                        break
                    if time.monotonic() - accepted_at > 60:
                        raise RuntimeError(f"probe event {key} not stored within 60 s")
                    time.sleep(POLL_SECONDS)
                samples.append(time.monotonic() - accepted_at)
                wrk.progress(f"probe {len(samples)}: {samples[-1] * 1000:.0f} ms")
                time.sleep(PROBE_PAUSE_SECONDS)
    finally:
        raw.close()
        engine.dispose()
    return samples


def run(stack: Stack, args: argparse.Namespace) -> Report:
    loaded, probed = stack.new_tenant(), stack.new_tenant()
    requests_per_second = args.events_per_second / ingest.BATCH
    delay_ms = int(1000 * LOAD_CONNECTIONS / requests_per_second)
    outcome: list[ingest.Accepted] = []
    load = threading.Thread(
        target=lambda: outcome.append(
            ingest.send_batches(
                stack, loaded, "load", args.seconds, LOAD_CONNECTIONS, delay_ms=delay_ms, quiet=True
            )
        )
    )
    started = time.monotonic()
    load.start()
    samples = probe(stack, probed, started + args.seconds)
    load.join()
    wrk.progress(f"{len(samples)} probes done", end=True)
    rate = outcome[0].events / outcome[0].load.seconds if outcome else 0.0
    p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
    report = Report("billable")
    report.add(
        Row(
            "background load, events/s accepted",
            f"{rate:,.0f}",
            target=f"~{args.events_per_second:,}",
        )
    )
    report.add(Row("202 -> billable, p50", f"{p50 * 1000:.0f} ms"))
    report.add(
        Row(
            "202 -> billable, p99",
            f"{p99 * 1000:.0f} ms",
            target=f"< {TARGET_P99_SECONDS:g} s",
            met=p99 < TARGET_P99_SECONDS,
        )
    )
    report.add(Row("202 -> billable, max", f"{max(samples) * 1000:.0f} ms"))
    report.figures = {
        "probes": len(samples),
        "p50_seconds": p50,
        "p99_seconds": p99,
        "max_seconds": max(samples),
        "load_events_per_second": rate,
        "load": outcome[0].load.as_dict() if outcome else None,
    }
    return report
