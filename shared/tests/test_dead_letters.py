"""Bounded retries and dead letters, on the real broker: a failing message is retried after
growing pauses, then parked with its error, while the messages behind it flow on; an
operator lists it, and replays it after the fix."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kombu import Connection, Exchange, Queue
from nameko.containers import ServiceContainer

from shared import dead_letters
from shared.entrypoints import event_handler, queue_consumer
from shared.errors import Unavailable, ValidationFailed
from shared.events import Event
from shared.waiting import wait_until
from tests.harness import RunEnvironment

DELAYS = [0.2, 0.4, 0.8]
WORK = Queue(f"test.work.{uuid.uuid4().hex[:8]}", exchange=Exchange(""), durable=True)


@dataclass(frozen=True, kw_only=True)
class ThingHappened(Event):
    """A test event."""

    source = "deadlettersource"
    event_type = "thing.happened"


def test_refusals_are_parked_at_once_and_failures_after_every_pause() -> None:
    refusal = ValidationFailed("bad data")
    assert dead_letters.decide(refusal, 0, DELAYS) == dead_letters.Decision(1, None)
    failure = RuntimeError("database away")
    pauses = [dead_letters.decide(failure, n, DELAYS).delay for n in range(len(DELAYS) + 1)]
    assert pauses == [0.2, 0.4, 0.8, None]
    assert dead_letters.decide(failure, 3, DELAYS).parked
    # A service or database that did not answer is no fault of the message.
    away = Unavailable("a service did not answer in time")
    assert dead_letters.decide(away, 0, DELAYS) == dead_letters.Decision(1, 0.2)


def test_each_pause_has_its_own_queue_that_hands_messages_back() -> None:
    queue = dead_letters.retry_queue("metering.usage", 0.4)
    assert queue.name == "metering.usage.retry.400ms"
    assert queue.queue_arguments["x-message-ttl"] == 400
    assert queue.queue_arguments["x-dead-letter-exchange"] == ""
    assert queue.queue_arguments["x-dead-letter-routing-key"] == "metering.usage"


class Worker:
    """Fails messages marked poison until `fixed`; refuses messages marked refuse."""

    name = "deadlettertest"
    fixed = False
    handled: list[str] = []
    attempts_at: dict[str, list[float]] = {}

    @queue_consumer(WORK)
    def work(self, payload: dict) -> None:
        key = payload["key"]
        Worker.attempts_at.setdefault(key, []).append(time.monotonic())
        if payload.get("refuse"):
            raise ValidationFailed("this message can never be handled", {"refuse": ["set"]})
        if payload.get("poison") and not Worker.fixed:
            raise RuntimeError("the database is away")
        Worker.handled.append(key)

    @event_handler(ThingHappened)
    def on_thing(self, event: ThingHappened) -> None:
        raise RuntimeError("handler bug")


@pytest.fixture
def worker(
    test_environment: RunEnvironment, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServiceContainer]:
    monkeypatch.setenv("RETRY_DELAYS_SECONDS", ",".join(str(d) for d in DELAYS))
    Worker.fixed, Worker.handled, Worker.attempts_at = False, [], {}
    dead_letters.drop(test_environment.amqp_uri, Worker.name)
    container = ServiceContainer(Worker, {"AMQP_URI": test_environment.amqp_uri})
    container.start()
    yield container
    container.stop()
    dead_letters.drop(test_environment.amqp_uri, Worker.name)


def send(amqp_uri: str, payload: dict) -> None:
    with Connection(amqp_uri) as connection:
        connection.Producer().publish(
            payload, routing_key=WORK.name, declare=[WORK], serializer="json", delivery_mode=2
        )


def parked(amqp_uri: str) -> list[dead_letters.DeadLetter]:
    return dead_letters.list_parked(amqp_uri, Worker.name)


def test_a_failing_message_is_retried_with_growing_pauses_then_parked_while_others_flow(
    worker: ServiceContainer, test_environment: RunEnvironment
) -> None:
    amqp = test_environment.amqp_uri
    send(amqp, {"key": "poison", "poison": True})
    for n in range(5):
        send(amqp, {"key": f"good-{n}"})

    wait_until(lambda: len(Worker.handled) == 5, 10, "the good messages behind the poison")
    letters = wait_until(lambda: parked(amqp), 15, "the poison to be parked")

    assert [letter.queue for letter in letters] == [WORK.name]
    assert letters[0].attempts == len(DELAYS) + 1
    assert "RuntimeError: the database is away" in letters[0].error
    times = Worker.attempts_at["poison"]
    pauses = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(times) == len(DELAYS) + 1
    for pause, delay in zip(pauses, DELAYS, strict=True):
        assert pause >= delay * 0.9, (pauses, DELAYS)
    assert dead_letters.count(amqp, (Worker.name,)) == {Worker.name: 1}

    # Listing leaves it where it is; replaying after the fix handles it once.
    assert len(parked(amqp)) == 1
    Worker.fixed = True
    assert dead_letters.replay(amqp, Worker.name, letters[0].id) == (1, 0)
    wait_until(lambda: "poison" in Worker.handled, 10, "the replayed message")
    assert dead_letters.count(amqp, (Worker.name,)) == {Worker.name: 0}
    assert Worker.handled.count("poison") == 1


def test_a_refused_message_is_parked_at_once_and_can_be_dropped(
    worker: ServiceContainer, test_environment: RunEnvironment
) -> None:
    amqp = test_environment.amqp_uri
    send(amqp, {"key": "refused", "refuse": True})
    letters = wait_until(lambda: parked(amqp), 10, "the refused message to be parked")
    assert letters[0].attempts == 1
    assert '"key": "refused"' in letters[0].body
    assert "ValidationFailed: this message can never be handled" in letters[0].error
    assert len(Worker.attempts_at["refused"]) == 1
    assert dead_letters.drop(amqp, Worker.name, letters[0].id) == 1
    assert parked(amqp) == []


def test_event_handlers_park_too(
    worker: ServiceContainer, test_environment: RunEnvironment
) -> None:
    amqp = test_environment.amqp_uri
    exchange = Exchange("deadlettersource.events", type="topic", durable=True)
    with Connection(amqp) as connection:
        connection.Producer().publish(
            ThingHappened().to_payload(),
            exchange=exchange,
            routing_key="thing.happened",
            declare=[exchange],
            serializer="json",
        )
    letters = wait_until(lambda: parked(amqp), 15, "the event to be parked")
    assert letters[0].queue == "evt-deadlettersource-thing.happened--deadlettertest.on_thing"
    assert letters[0].attempts == len(DELAYS) + 1
