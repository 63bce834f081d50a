"""No message is retried forever, and none is lost: the whole suite as real processes.

A message a consumer cannot handle is retried after growing pauses, then parked in its
service's dead-letter queue, where `python -m ops dead-letters` lists it and replays it once
the cause is fixed; the messages behind it flow on meanwhile."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from kombu import Connection

from ops.processes import ROOT
from services.metering.events import USAGE_EXCHANGE, USAGE_QUEUE, USAGE_ROUTING_KEY
from shared import dead_letters
from shared.waiting import wait_until
from tests.integration.conftest import PASSWORD, Suite

pytestmark = pytest.mark.integration


def ops(suite: Suite, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ops", *args],
        env=suite.supervisor.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def parked(suite: Suite, service: str) -> list[dead_letters.DeadLetter]:
    return dead_letters.list_parked(suite.env.amqp_uri, service)


def email_log(suite: Suite, address: str) -> tuple:
    rows = suite.sql(
        'SELECT status, attempts, error_message FROM notifications.email_logs WHERE "to" = :a',
        a=address,
    )
    return rows[0] if rows else ()


def test_an_email_that_cannot_be_sent_is_retried_parked_and_replayed_after_the_fix(
    suite: Suite,
) -> None:
    address = f"dl-{uuid.uuid4().hex[:10]}@example.co.zw"
    suite.supervisor.stop("mailsink")
    try:
        signed_up = suite.http(
            "POST", "/v1/auth/sign-up", json={"email": address, "password": PASSWORD}
        )
        assert signed_up.status_code < 300, signed_up.text
        # Emails of earlier tests still on their way are parked too while SMTP is away.
        letters = wait_until(
            lambda: [m for m in parked(suite, "notifications") if address in m.body],
            60,
            "the parked email event",
        )
        assert letters[0].queue.startswith("evt-identity-user.registered--notifications.")
        retries = len(suite.supervisor.env["RETRY_DELAYS_SECONDS"].split(","))
        assert letters[0].attempts == retries + 1
        assert "ConnectionRefusedError" in letters[0].error

        status, attempts, error = email_log(suite, address)
        assert (status, attempts) == ("FAILED", retries + 1)
        assert "ConnectionRefusedError" in error

        listing = ops(suite, "dead-letters")
        assert letters[0].id in listing
        ready = suite.http("GET", "/v1/ready").json()
        assert ready["dead_letters"]["notifications"] >= 1
    finally:
        suite.supervisor.start("mailsink")

    replayed = ops(suite, "dead-letters", "replay", "notifications", letters[0].id)
    assert "notifications  1" in replayed
    # The others parked meanwhile (earlier tests' emails) get their chance too.
    ops(suite, "dead-letters", "replay", "notifications", "--all")
    assert "Confirm" in suite.mail(address, "Confirm")["Subject"]
    wait_until(lambda: email_log(suite, address)[:1] == ("SENT",), 15, "the email log to say SENT")
    assert [m for m in parked(suite, "notifications") if address in m.body] == []


def publish_raw_usage(suite: Suite, message: dict) -> None:
    """Straight onto metering's queue, as any process on the broker could."""
    with Connection(suite.env.amqp_uri) as connection:
        connection.Producer().publish(
            message,
            exchange=USAGE_EXCHANGE,
            routing_key=USAGE_ROUTING_KEY,
            declare=[USAGE_QUEUE],
            serializer="json",
            delivery_mode=2,
        )


def usage_rows(suite: Suite, organization_id: str) -> list[str]:
    rows = suite.sql(
        "SELECT idempotency_key FROM metering.usage_events WHERE organization_id = :o "
        "ORDER BY idempotency_key",
        o=organization_id,
    )
    return [row[0] for row in rows]


def test_a_poison_usage_message_is_parked_and_the_good_events_flow_past_it(suite: Suite) -> None:
    organization_id = f"poison{uuid.uuid4().hex[:10]}"
    event = {"event_type": "pos.transaction", "quantity": 1, "timestamp": None}
    poison = {
        "organization_id": organization_id,
        "api_key_id": None,
        "received_at": None,
        "events": [
            {**event, "idempotency_key": "good-in-poison"},
            {**event, "idempotency_key": "nul\u0000key"},
            {**event, "idempotency_key": "lone-surrogate", "event_data": {"note": "\ud800"}},
        ],
    }
    behind = {**poison, "events": [{**event, "idempotency_key": "good-behind"}]}
    publish_raw_usage(suite, poison)
    publish_raw_usage(suite, behind)

    wait_until(
        lambda: usage_rows(suite, organization_id) == ["good-behind", "good-in-poison"],
        30,
        "the storable events to be counted",
    )
    letters = wait_until(
        lambda: [m for m in parked(suite, "metering") if organization_id in m.body],
        30,
        "the poison to be parked",
    )
    assert letters[0].queue == USAGE_QUEUE.name
    assert letters[0].attempts == 1, "a message at fault is parked at once, not retried"
    assert "events.1.idempotency_key" in letters[0].error
    assert "events.2.event_data" in letters[0].error

    dropped = ops(suite, "dead-letters", "drop", "metering", letters[0].id)
    assert "metering  1" in dropped
    assert [m for m in parked(suite, "metering") if m.id == letters[0].id] == []
