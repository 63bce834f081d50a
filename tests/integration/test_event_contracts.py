"""Events that do not meet their contracts, sent straight onto a service's exchange as any
process on the broker could: the handler never runs, and the message is parked at once
(not retried) with the fields at fault named. (That every event the suite itself wrote
meets its contract is checked when the suite fixture ends.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kombu import Connection
from nameko.standalone.events import get_event_exchange

from services.billing.events import InvoiceIssued
from services.identity.events import OrganizationCreated
from shared import dead_letters
from shared.events import Event
from shared.ids import cuid
from shared.waiting import wait_until
from tests.integration.conftest import Suite

pytestmark = pytest.mark.integration


def publish_raw(suite: Suite, contract: type[Event], payload: dict[str, Any]) -> None:
    exchange = get_event_exchange(contract.source, {})
    with Connection(suite.env.amqp_uri) as connection:
        connection.Producer().publish(
            payload,
            exchange=exchange,
            routing_key=contract.event_type,
            declare=[exchange],
            serializer="json",
            delivery_mode=2,
        )


def parked_event(suite: Suite, service: str, event_id: str) -> dead_letters.DeadLetter:
    """The dead letter of `service` holding the event `event_id`, once it is parked."""

    def find() -> dead_letters.DeadLetter | None:
        for letter in dead_letters.list_parked(suite.env.amqp_uri, service):
            if json.loads(letter.body).get("event_id") == event_id:
                return letter
        return None

    return wait_until(find, 30, f"event {event_id} to be parked by {service}")


def test_a_malformed_event_is_parked_at_once_naming_its_fields(suite: Suite) -> None:
    invoice = InvoiceIssued(
        invoice_id=cuid(),
        invoice_number="INV-1999-000001",
        organization_id=cuid(),
        billing_account_id=cuid(),
        total=1_000,
        amount_due=1_000,
        due_at="1999-02-15T00:00:00+00:00",
    )
    malformed = invoice.to_payload() | {"total": "1000", "payment_token": "in-the-event"}
    del malformed["due_at"]
    publish_raw(suite, InvoiceIssued, malformed)

    letter = parked_event(suite, "notifications", invoice.event_id)
    assert letter.queue == "evt-billing-invoice.issued--notifications.send_invoice_email"
    assert letter.attempts == 1, "a message at fault is parked at once, not retried"
    assert "does not meet its contract" in letter.error
    for field in ('"total"', '"payment_token"', '"due_at"'):
        assert field in letter.error
    emails = suite.sql(
        "SELECT count(*) FROM notifications.email_logs WHERE event_id = :e", e=invoice.event_id
    )
    assert emails == [(0,)], "the handler never ran"
    assert dead_letters.drop(suite.env.amqp_uri, "notifications", letter.id) == 1


def test_an_event_of_a_version_the_handler_does_not_read_is_parked_at_once(suite: Suite) -> None:
    created = OrganizationCreated(
        organization_id=cuid(),
        name="From the future",
        slug=f"future-{cuid()}",
        email="ops@example.co.zw",
        owner_user_id=cuid(),
    )
    publish_raw(suite, OrganizationCreated, created.to_payload() | {"version": 2})

    letter = parked_event(suite, "billing", created.event_id)
    assert (
        letter.queue
        == "evt-identity-organization.created--billing.open_account_for_new_organization"
    )
    assert letter.attempts == 1
    assert '"version"' in letter.error and "unknown version" in letter.error
    accounts = suite.sql(
        "SELECT count(*) FROM billing.billing_accounts WHERE organization_id = :o",
        o=created.organization_id,
    )
    assert accounts == [(0,)], "the handler never ran"
    assert dead_letters.drop(suite.env.amqp_uri, "billing", letter.id) == 1
