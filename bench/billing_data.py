"""A month of business for the billing-run benchmark, written straight into the databases of
a running stack: organizations (identity), their billing accounts and three services each
(billing), and their usage events with rollups (metering).

    dataset = generate(organizations=1000, period="2026-10", events_per_organization=100)
    ... start the run (POST /v1/admin/billing-runs), wait for it ...
    outcome(dataset)  # invoices, numbered, duplicates, emails sent, usage claimed

Rows are made by PostgreSQL itself (unnest and generate_series), so 10,000 organizations
with a million events take seconds, not the hours the API would. Each dataset is marked by
a fresh tag: its organizations are named "bench <tag> <n>" and mailed at
billing-<tag>-<n>@bench.test. Usage lines appear on invoices only if `pos.transaction` has
a price in billing's settings (PATCH /v1/admin/billing-settings); the generator sets none.

`python -m bench.billing_data --organizations 1000 --period 2026-10 [--events 100]`
prints the dataset as JSON; the database URLs come from the environment, as the stack's.
"""

from __future__ import annotations

import argparse
import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import pool, text
from sqlalchemy.engine import Connection

from services.billing.invoicing import Period
from shared import config
from shared.db import make_engine
from shared.ids import cuid

EVENT_TYPE = "pos.transaction"
# Two leased terminals and their maintenance plan, all month.
SERVICES = (
    ("POS_TERMINAL", "Till 1", 2_500),
    ("POS_TERMINAL", "Till 2", 2_500),
    ("POS_MAINTENANCE", "Care plan", 1_000),
)


@dataclass(frozen=True)
class Dataset:
    tag: str
    period: str
    organization_ids: list[str]
    services: int
    usage_events: int


def _run(service: str, statements: list[tuple[str, dict[str, Any]]]) -> None:
    engine = make_engine(config.database_url(service), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            for statement, params in statements:
                conn.execute(text(statement), params)
    finally:
        engine.dispose()


def _query(service: str, statement: str, **params: Any) -> Any:
    engine = make_engine(config.database_url(service), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return _scalar(conn, statement, params)
    finally:
        engine.dispose()


def _scalar(conn: Connection, statement: str, params: dict[str, Any]) -> Any:
    return conn.execute(text(statement), params).scalar_one()


def generate(organizations: int, period: str, events_per_organization: int = 100) -> Dataset:
    month = Period.month(period)
    tag = secrets.token_hex(3)
    org_ids = [cuid() for _ in range(organizations)]
    params = {"tag": tag, "orgs": org_ids}
    _run(
        "identity",
        [
            (
                "INSERT INTO identity.organizations (id, name, slug, email, country, "
                "created_at, updated_at) "
                "SELECT o.id, 'bench ' || :tag || ' ' || o.n, 'bench-' || :tag || '-' || o.n, "
                "'billing-' || :tag || '-' || o.n || '@bench.test', 'Zimbabwe', now(), now() "
                "FROM unnest(CAST(:orgs AS text[])) WITH ORDINALITY AS o(id, n)",
                params,
            )
        ],
    )
    accounts = [cuid() for _ in org_ids]
    service_rows = [
        (cuid(), org_id, kind, name, fee) for org_id in org_ids for kind, name, fee in SERVICES
    ]
    _run(
        "billing",
        [
            (
                "INSERT INTO billing.billing_accounts (id, organization_id, created_at, "
                "updated_at) SELECT a, o, now(), now() "
                "FROM unnest(CAST(:accounts AS text[]), CAST(:orgs AS text[])) AS t(a, o)",
                {"accounts": accounts, "orgs": org_ids},
            ),
            (
                "INSERT INTO billing.services (id, organization_id, type, name, monthly_fee, "
                "status, activated_at, created_at, updated_at) "
                'SELECT s, o, CAST(k AS billing."ServiceType"), n, f, '
                "'ACTIVE', :activated, now(), now() "
                "FROM unnest(CAST(:ids AS text[]), CAST(:orgs AS text[]), "
                "CAST(:kinds AS text[]), CAST(:names AS text[]), CAST(:fees AS int[])) "
                "AS t(s, o, k, n, f)",
                {
                    "ids": [row[0] for row in service_rows],
                    "orgs": [row[1] for row in service_rows],
                    "kinds": [row[2] for row in service_rows],
                    "names": [row[3] for row in service_rows],
                    "fees": [row[4] for row in service_rows],
                    "activated": month.start,
                },
            ),
        ],
    )
    # Spread evenly over the month: event e of n at start + (e - 0.5) / n of the month.
    seconds = (month.end - month.start).total_seconds()
    events = {
        "tag": tag,
        "orgs": org_ids,
        "events": events_per_organization,
        "start": month.start,
        "step": seconds / max(events_per_organization, 1),
        "type": EVENT_TYPE,
    }
    _run(
        "metering",
        [
            (
                "INSERT INTO metering.usage_events (id, organization_id, event_type, quantity, "
                "timestamp, idempotency_key, received_at) "
                "SELECT 'b' || :tag || lpad(o.n::text, 7, '0') || lpad(e::text, 6, '0'), o.id, "
                ":type, 1, :start + make_interval(secs => (e - 0.5) * :step), "
                "'bench-' || :tag || '-' || e, now() "
                "FROM unnest(CAST(:orgs AS text[])) WITH ORDINALITY AS o(id, n), "
                "generate_series(1, :events) AS e",
                events,
            ),
            (
                "INSERT INTO metering.usage_rollups (organization_id, hour, event_type, "
                "api_key_id, quantity, events) "
                "SELECT organization_id, date_trunc('hour', timestamp), event_type, '', "
                "sum(quantity), count(*) FROM metering.usage_events "
                "WHERE organization_id = ANY(CAST(:orgs AS text[])) "
                "GROUP BY organization_id, date_trunc('hour', timestamp), event_type",
                {"orgs": org_ids},
            ),
        ],
    )
    return Dataset(
        tag=tag,
        period=period,
        organization_ids=org_ids,
        services=len(service_rows),
        usage_events=organizations * events_per_organization,
    )


def outcome(dataset: Dataset) -> dict[str, int]:
    """What the run made of the dataset; every figure but `duplicates` should reach
    `organizations` (`usage_claimed`: the dataset's usage events)."""
    period = Period.month(dataset.period)
    orgs = {"orgs": dataset.organization_ids, "start": period.start}
    invoices = (
        "SELECT {what} FROM billing.invoices i "
        "JOIN billing.billing_accounts a ON a.id = i.billing_account_id "
        "WHERE a.organization_id = ANY(CAST(:orgs AS text[])) AND i.period_start = :start"
    )
    return {
        "organizations": len(dataset.organization_ids),
        "invoices": _query("billing", invoices.format(what="count(i.finalized_at)"), **orgs),
        "numbered": _query("billing", invoices.format(what="count(i.invoice_number)"), **orgs),
        "duplicates": _query(
            "billing",
            invoices.format(what="count(*) - count(DISTINCT i.billing_account_id)"),
            **orgs,
        ),
        "emails_sent": _query(
            "notifications",
            "SELECT count(*) FROM notifications.email_logs WHERE template = 'invoice-issued' "
            "AND status = 'SENT' AND organization_id = ANY(CAST(:orgs AS text[]))",
            orgs=dataset.organization_ids,
        ),
        "usage_claimed": _query(
            "metering",
            "SELECT count(*) FROM metering.usage_events WHERE invoice_id IS NOT NULL "
            "AND organization_id = ANY(CAST(:orgs AS text[]))",
            orgs=dataset.organization_ids,
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.billing_data", description=__doc__)
    parser.add_argument("--organizations", type=int, required=True)
    parser.add_argument("--period", required=True, help="YYYY-MM")
    parser.add_argument("--events", type=int, default=100, help="usage events per organization")
    args = parser.parse_args(argv)
    dataset = generate(args.organizations, args.period, args.events)
    print(json.dumps({**asdict(dataset), "organization_ids": len(dataset.organization_ids)}))


if __name__ == "__main__":
    main()
