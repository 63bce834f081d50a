"""Terminal usage through the gateway into billable usage, over real HTTP and a real
broker: duplicates, late events, per-event refusals, metering restarts, invoice claims,
and one rate limit shared by two gateway instances."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from ops.processes import Supervisor
from shared.clock import utcnow
from shared.waiting import wait_until
from tests.integration.conftest import Person, Suite, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def owner(suite: Suite) -> Person:
    return suite.new_person()


def new_key(
    suite: Suite, owner: Person, org_id: str, scopes: list[str], rate_limit: int = 100_000
) -> str:
    response = suite.http(
        "POST", f"/v1/organizations/{org_id}/api-keys", headers=owner.auth,
        json={"name": "till", "scopes": scopes, "rate_limit": rate_limit},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()["key"]


def event(
    key: str, quantity: int = 1, event_type: str = "pos.transaction", **extra: object
) -> dict:
    return {"event_type": event_type, "quantity": quantity, "idempotency_key": key, **extra}


def usage(suite: Suite, owner: Person, org_id: str, group_by: str) -> list[dict]:
    now = utcnow()
    params = {
        "from": (now - timedelta(days=40)).isoformat(),
        "to": (now + timedelta(days=1)).isoformat(),
        "group_by": group_by,
    }
    response = suite.http(
        "GET", f"/v1/organizations/{org_id}/usage", params=params, headers=owner.auth
    )
    assert response.status_code == 200, response.text
    return response.json()["rows"]


def pos_quantities(suite: Suite, owner: Person, org_id: str) -> dict[str, int]:
    return {
        row["event_type"]: row["quantity"]
        for row in usage(suite, owner, org_id, "event_type")
        if row["event_type"].startswith("pos.")
    }


def test_usage_counts_each_event_once_and_refuses_bad_ones_one_by_one(
    suite: Suite, owner: Person
) -> None:
    org = suite.new_org(owner)
    key = new_key(suite, owner, org["id"], ["usage:write"])
    terminal = {"X-API-Key": key}
    three_days_ago = (utcnow() - timedelta(days=3)).isoformat()

    single = suite.http("POST", "/v1/usage-events", json=event("k1", 2), headers=terminal)
    assert single.status_code == 202, single.text
    assert single.json()["accepted"] == 1

    batch = {
        "events": [
            event("k2", 3),
            event("k1", 2),  # a duplicate of the single event above
            event("k3", 5, timestamp=three_days_ago),  # late: the terminal was offline
            event("k4", 1, event_type="pos.unknown"),
            event("k5", 1, timestamp=(utcnow() + timedelta(hours=1)).isoformat()),
            event("k6", 0),
            {"event_type": "pos.refund", "quantity": 1},
            event("k8", 1, event_data={"blob": "x" * 5000}),
        ]
    }
    answer = suite.http("POST", "/v1/usage-events", json=batch, headers=terminal)
    assert answer.status_code == 202, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["accepted"] * 3 + ["rejected"] * 5
    assert [set(r["errors"]) for r in results[3:]] == [
        {"event_type"},
        {"timestamp"},
        {"quantity"},
        {"idempotency_key"},
        {"event_data"},
    ]
    assert suite.http("POST", "/v1/usage-events", json=batch, headers=terminal).status_code == 202

    wait_until(lambda: pos_quantities(suite, owner, org["id"]) == {"pos.transaction": 10}, 20,
               "metering to count 2 + 3 + 5")  # fmt: skip
    assert suite.sql(
        "SELECT count(*) FROM metering.usage_events "
        "WHERE organization_id = :o AND event_type = 'pos.transaction'",
        o=org["id"],
    ) == [(3,)]
    by_day = {
        row["day"]: row["quantity"]
        for row in usage(suite, owner, org["id"], "day")
        if row["quantity"]
    }
    assert by_day[three_days_ago[:10]] >= 5

    all_refused = suite.http("POST", "/v1/usage-events", json=event("k9", -1), headers=terminal)
    assert all_refused.status_code == 422
    assert all_refused.json()["error"]["fields"] == {
        "events.0.quantity": [
            "Must be greater than or equal to 1 and less than or equal to 1000000."
        ]
    }


def test_late_usage_goes_to_the_next_invoice_and_clients_see_which(
    suite: Suite, owner: Person
) -> None:
    org = suite.new_org(owner)
    terminal = {"X-API-Key": new_key(suite, owner, org["id"], ["usage:write"])}
    yesterday = (utcnow() - timedelta(days=1)).isoformat()
    suite.http(
        "POST",
        "/v1/usage-events",
        json={"events": [event("a", 4), event("b", 6)]},
        headers=terminal,
    )
    wait_until(
        lambda: pos_quantities(suite, owner, org["id"]) == {"pos.transaction": 10}, 20, "usage"
    )

    first_invoice, next_invoice = f"inv-{uuid.uuid4().hex[:8]}", f"inv-{uuid.uuid4().hex[:8]}"
    with suite.rpc() as cluster:  # as the suite itself, like billing when it invoices
        end = utcnow().isoformat()
        first = cluster.metering.claim_usage(org["id"], end, first_invoice)
        assert first["pos.transaction"] == 10
        suite.http(
            "POST", "/v1/usage-events", json=event("late", 7, timestamp=yesterday), headers=terminal
        )
        wait_until(
            lambda: pos_quantities(suite, owner, org["id"]) == {"pos.transaction": 17},
            20,
            "late usage",
        )
        assert cluster.metering.claim_usage(org["id"], end, first_invoice) == first
        assert (
            cluster.metering.claim_usage(org["id"], utcnow().isoformat(), next_invoice)[
                "pos.transaction"
            ]
            == 7
        )

    by_invoice = {
        row["invoice_id"]: row["quantity"]
        for row in usage(suite, owner, org["id"], "invoice")
        if row["event_type"] == "pos.transaction"
    }
    assert by_invoice == {first_invoice: 10, next_invoice: 7}


def test_nothing_accepted_is_lost_while_metering_is_down(suite: Suite, owner: Person) -> None:
    org = suite.new_org(owner)
    terminal = {"X-API-Key": new_key(suite, owner, org["id"], ["usage:write"])}
    suite.supervisor.kill("metering")
    try:
        for batch in range(20):
            events = [event(f"b{batch}-e{i}", 1) for i in range(10)]
            events.append(event(f"b{max(batch - 1, 0)}-e0", 1))  # a resend of an earlier event
            response = suite.http(
                "POST", "/v1/usage-events", json={"events": events}, headers=terminal
            )
            assert response.status_code == 202, response.text
        assert suite.sql(
            "SELECT count(*) FROM metering.usage_events WHERE organization_id = :o", o=org["id"]
        ) == [(0,)]
    finally:
        suite.supervisor.start("metering")
    wait_until(
        lambda: pos_quantities(suite, owner, org["id"]) == {"pos.transaction": 200}, 60,
        "metering to catch up after its restart",
    )  # fmt: skip
    assert suite.sql(
        "SELECT count(*) FROM metering.usage_events "
        "WHERE organization_id = :o AND event_type = 'pos.transaction'",
        o=org["id"],
    ) == [(200,)]
    suite.supervisor.wait_ready(timeout=60)


def test_every_terminal_call_is_metered_and_refused_calls_are_not(
    suite: Suite, owner: Person
) -> None:
    org = suite.new_org(owner)
    key = new_key(suite, owner, org["id"], ["pos:read"])
    for _ in range(3):
        assert (
            suite.http("GET", "/v1/terminal/whoami", headers={"X-API-Key": key}).status_code == 200
        )
    refused = suite.http("POST", "/v1/usage-events", json=event("x"), headers={"X-API-Key": key})
    assert refused.status_code == 403  # no usage:write scope

    def api_calls() -> int:
        rows = usage(suite, owner, org["id"], "event_type")
        return sum(r["quantity"] for r in rows if r["event_type"] == "api.call")

    wait_until(lambda: api_calls() == 3, 20, "three api.call events")
    assert api_calls() == 3


def test_two_gateways_share_one_rate_limit(suite: Suite, owner: Person, tmp_path: Path) -> None:
    org = suite.new_org(owner)
    key = new_key(suite, owner, org["id"], ["pos:read"], rate_limit=6)
    second = Supervisor(
        tmp_path, env={**suite.supervisor.env, "GATEWAY_ADDRESS": f"127.0.0.1:{free_port()}"}
    )
    second.start("gateway")
    try:
        wait_until(lambda: second.ready()[0], 60, "the second gateway")
        answers = [
            requests.get(f"{url}/v1/terminal/whoami", headers={"X-API-Key": key}, timeout=10)
            for url in [suite.url, second.gateway_url] * 3
        ]
        assert [a.status_code for a in answers] == [200] * 6
        assert [int(a.headers["X-RateLimit-Remaining"]) for a in answers] == [5, 4, 3, 2, 1, 0]
        assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"6"}
        over = suite.http("GET", "/v1/terminal/whoami", headers={"X-API-Key": key})
        assert over.status_code == 429
        assert int(over.headers["Retry-After"]) > 0
        assert over.headers["X-RateLimit-Remaining"] == "0"
    finally:
        second.stop("gateway")
