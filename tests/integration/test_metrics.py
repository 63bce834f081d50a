"""Every process of the suite serves Prometheus metrics on a port of its own, and a
customer's journey (sign-up, organization, API key, usage, billing run, a Paynow payment)
moves the counters of each process it went through."""

from __future__ import annotations

import uuid

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from ops.processes import METERED
from shared.waiting import DeadlineExceeded, wait_until
from tests.integration.conftest import Person, Suite
from tests.integration.payments_helpers import (
    PAID_SOON,
    billed_organization,
    pay_by_token,
    started,
    wait_for_money,
)

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(suite: Suite, component: str) -> Samples:
    url = suite.supervisor.metrics_url(component)
    assert url is not None, f"{component} serves no metrics"
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_a_journey_moves_the_business_counters_of_every_process(
    suite: Suite, staff: Person
) -> None:
    before = {component: scrape(suite, component) for component in METERED}

    billed = billed_organization(suite, staff)
    key = suite.http(
        "POST",
        f"/v1/organizations/{billed.org_id}/api-keys",
        headers=billed.owner.auth,
        json={"name": "till", "scopes": ["usage:write"]},
    )
    assert key.status_code == 201, key.text
    batch = {
        "events": [
            {"event_type": "pos.transaction", "quantity": 1, "idempotency_key": uuid.uuid4().hex}
            for _ in range(3)
        ]
    }
    accepted = suite.http(
        "POST", "/v1/usage-events", json=batch, headers={"X-API-Key": key.json()["key"]}
    )
    assert accepted.status_code == 202, accepted.text
    started(pay_by_token(suite, billed.token, method="ecocash", phone=PAID_SOON))
    wait_for_money(suite, billed, ("PAID", billed.total, 0, 0))
    # Readiness asks every service's health RPC: the one call support gets in this journey.
    assert suite.http("GET", "/v1/ready").status_code == 200

    # (component, metric, labels, at least this much more than before the journey)
    expected = [
        ("identity", "cvt_events_committed_total", {"service": "identity", "event_type": "organization.created"}, 1),  # noqa: E501
        ("identity", "cvt_entrypoint_calls_total", {"service": "identity", "entrypoint": "sign_up", "outcome": "ok"}, 1),  # noqa: E501
        ("billing", "cvt_invoices_issued_total", {}, 1),
        ("billing", "cvt_events_committed_total", {"service": "billing", "event_type": "invoice.paid"}, 1),  # noqa: E501
        ("metering", "cvt_usage_events_total", {"outcome": "ingested"}, 3),
        ("payments", "cvt_payments_total", {"status": "PAID", "method": "PAYNOW_ECOCASH"}, 1),
        ("notifications", "cvt_entrypoint_calls_total", {"service": "notifications", "entrypoint": "send_invoice_email", "outcome": "ok"}, 1),  # noqa: E501
        ("support", "cvt_entrypoint_calls_total", {"service": "support", "entrypoint": "health", "outcome": "ok"}, 1),  # noqa: E501
        ("gateway", "cvt_http_responses_total", {"status": "202"}, 1),
        ("gateway", "cvt_entrypoint_calls_total", {"service": "gateway", "entrypoint": "start_checkout_by_token", "outcome": "ok"}, 1),  # noqa: E501
    ]  # fmt: skip

    def still_behind() -> list[str]:
        now = {component: scrape(suite, component) for component in METERED}
        return [
            f"{component} {name}{labels}: {value(before[component], name, **labels)} -> "
            f"{value(now[component], name, **labels)}"
            for component, name, labels, more in expected
            if value(now[component], name, **labels)
            < value(before[component], name, **labels) + more
        ]

    # Emails are sent in reaction to events: their counters may move a little later.
    behind: list[str] = []

    def caught_up() -> bool:
        behind[:] = still_behind()
        return not behind

    try:
        wait_until(caught_up, 30, "the counters to move")
    except DeadlineExceeded:
        raise AssertionError(f"counters that did not move: {behind}") from None

    for service in METERED[:-1]:
        samples = scrape(suite, service)
        assert (("cvt_outbox_unpublished", frozenset({("service", service)}))) in samples
        assert value(samples, "cvt_dead_letters", service=service) >= 0
        assert (
            value(
                samples,
                "cvt_entrypoint_duration_seconds_count",
                service=service,
                entrypoint="health",
            )
            > 0
        )
