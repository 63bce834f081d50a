"""Handlers read typed events, on the real broker: a handler gets an instance of the contract
it names; a payload that does not meet the contract (or of a version the handler does not
read) never reaches it, and is parked at once instead of retried."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kombu import Connection, Exchange
from nameko.containers import ServiceContainer

from shared import dead_letters
from shared.entrypoints import broadcast_handler, event_handler
from shared.events import Event
from shared.waiting import wait_until
from tests.harness import RunEnvironment

SOURCE = f"eventsdelivery{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, kw_only=True)
class ParcelSent(Event):
    """A parcel left the depot (a test contract)."""

    source = SOURCE
    event_type = "parcel.sent"

    parcel_id: str
    weight: int


class Depot:
    name = "eventsdeliverytest"
    handled: list[ParcelSent] = []
    broadcast: list[ParcelSent] = []

    @event_handler(ParcelSent)
    def on_parcel(self, event: ParcelSent) -> None:
        Depot.handled.append(event)

    @broadcast_handler(ParcelSent)
    def on_parcel_everywhere(self, event: ParcelSent) -> None:
        Depot.broadcast.append(event)


@pytest.fixture
def depot(test_environment: RunEnvironment) -> Iterator[ServiceContainer]:
    Depot.handled, Depot.broadcast = [], []
    dead_letters.drop(test_environment.amqp_uri, Depot.name)
    container = ServiceContainer(Depot, {"AMQP_URI": test_environment.amqp_uri})
    container.start()
    yield container
    container.stop()
    dead_letters.drop(test_environment.amqp_uri, Depot.name)


def publish(amqp_uri: str, body: Any) -> None:
    """Straight onto the source's exchange, as any process on the broker could."""
    exchange = Exchange(f"{SOURCE}.events", type="topic", durable=True)
    with Connection(amqp_uri) as connection:
        connection.Producer().publish(
            body,
            exchange=exchange,
            routing_key=ParcelSent.event_type,
            declare=[exchange],
            serializer="json",
            delivery_mode=2,
        )


def test_handlers_get_the_event_as_an_instance_of_its_contract(
    depot: ServiceContainer, test_environment: RunEnvironment
) -> None:
    sent = ParcelSent(parcel_id="p1", weight=3)
    publish(test_environment.amqp_uri, sent.to_payload())
    wait_until(lambda: Depot.handled and Depot.broadcast, 10, "both handlers to get the event")
    assert Depot.handled == [sent]
    assert Depot.broadcast == [sent]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"weight": "3", "payment_token": "t"}, ['"weight"', '"payment_token"']),
        ({"version": 2}, ['"version"', "unknown version"]),
    ],
    ids=["malformed", "unknown-version"],
)
def test_a_payload_that_does_not_meet_the_contract_is_parked_at_once(
    depot: ServiceContainer, test_environment: RunEnvironment, change: dict, named: list[str]
) -> None:
    amqp = test_environment.amqp_uri
    publish(amqp, ParcelSent(parcel_id="bad", weight=1).to_payload() | change)
    behind = ParcelSent(parcel_id="good", weight=2)
    publish(amqp, behind.to_payload())

    letters = wait_until(
        lambda: dead_letters.list_parked(amqp, Depot.name), 10, "the payload to be parked"
    )
    assert letters[0].queue == f"evt-{SOURCE}-parcel.sent--{Depot.name}.on_parcel"
    assert letters[0].attempts == 1, "a payload at fault is parked at once, not retried"
    assert "ValidationFailed: the parcel.sent event does not meet its contract" in letters[0].error
    for text in named:
        assert text in letters[0].error
    wait_until(lambda: Depot.handled, 10, "the event behind it")
    assert Depot.handled == [behind], "the handler never saw the bad payload"
    wait_until(lambda: Depot.broadcast, 10, "the broadcast event behind it")
    assert Depot.broadcast == [behind], "a cache drops a bad payload: nothing to park"
    assert len(dead_letters.list_parked(amqp, Depot.name)) == 1
