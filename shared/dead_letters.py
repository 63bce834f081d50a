"""Bounded retries and dead letters for every consumer of the suite.

A message whose handler fails is not handed back to the head of its queue (a hot loop that
also holds up the messages behind it). Instead, once a copy is safe with RabbitMQ (persistent,
publisher-confirmed), the original is acknowledged and the copy waits:

- in a retry queue `<queue>.retry.<ms>ms`: a queue with a fixed TTL whose expired messages
  RabbitMQ dead-letters back to `<queue>` — one queue per pause, so a long pause never holds
  up a short one; the pauses grow (`RETRY_DELAYS_SECONDS`);
- after the last pause, or at once when retrying cannot help (a `DomainError` other than
  `Unavailable`: the message itself is at fault), in the service's dead-letter queue
  `<service>.dead-letters`, with the original queue, the error and the attempt count in its
  headers. Nobody consumes that queue:
  a parked message waits for a person (`python -m ops dead-letters`) and blocks nothing.

The copy keeps the body byte for byte and every header (nameko's context data included), so
a replayed message is the message that was sent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from amqp.exceptions import ChannelError
from kombu import Connection, Exchange, Queue
from kombu.message import Message

from shared import config
from shared.clock import utcnow
from shared.errors import DomainError, Unavailable
from shared.ids import cuid

log = logging.getLogger(__name__)

ATTEMPTS = "x-cvt-attempts"
ORIGINAL_QUEUE = "x-cvt-queue"
ERROR = "x-cvt-error"
PARKED_AT = "x-cvt-parked-at"
DEAD_LETTER_ID = "x-cvt-dead-letter-id"
_OUR_HEADERS = (ATTEMPTS, ORIGINAL_QUEUE, ERROR, PARKED_AT, DEAD_LETTER_ID, "x-death")
# Long enough to tell what went wrong; headers travel with every copy.
MAX_ERROR_LENGTH = 1000
# A retry queue nobody has published to for this long goes away by itself (its messages
# have long been handed back by then: the expiry is counted from the last declaration).
RETRY_QUEUE_IDLE_MS = 10 * 60 * 1000
DEFAULT_EXCHANGE = Exchange("")


def dead_letter_queue(service: str) -> Queue:
    return Queue(f"{service}.dead-letters", exchange=DEFAULT_EXCHANGE, durable=True)


def retry_delays() -> list[float]:
    return [float(part) for part in config.RETRY_DELAYS_SECONDS.get().split(",") if part.strip()]


def retry_queue(queue_name: str, delay_seconds: float) -> Queue:
    ms = max(1, round(delay_seconds * 1000))
    return Queue(
        f"{queue_name}.retry.{ms}ms",
        exchange=DEFAULT_EXCHANGE,
        durable=True,
        queue_arguments={
            "x-message-ttl": ms,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": queue_name,
            "x-expires": ms + RETRY_QUEUE_IDLE_MS,
        },
    )


def describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, DomainError) and exc.fields:
        text += f" {json.dumps(exc.fields, ensure_ascii=True)}"
    return text[:MAX_ERROR_LENGTH]


@dataclass(frozen=True)
class Decision:
    """What happens to a failed message: retried after `delay` seconds, or parked."""

    attempts: int
    delay: float | None

    @property
    def parked(self) -> bool:
        return self.delay is None


def decide(exc: BaseException, attempts_before: int, delays: list[float]) -> Decision:
    """A refusal of the message itself is parked at once; anything else is retried after
    each pause in turn, then parked. `Unavailable` is no refusal: a service, the broker or
    a database was away, and may be back by the next attempt."""
    attempts = attempts_before + 1
    refused = isinstance(exc, DomainError) and not isinstance(exc, Unavailable)
    if refused or attempts > len(delays):
        return Decision(attempts, None)
    return Decision(attempts, delays[attempts - 1])


def _copy_headers(message: Message) -> dict[str, Any]:
    return {k: v for k, v in (message.headers or {}).items() if k not in _OUR_HEADERS}


@contextmanager
def _producer(amqp_uri: str) -> Iterator[Any]:
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as connection:
        yield connection.Producer()


def _publish_copy(
    producer: Any, message: Message, queue: Queue, headers: dict[str, Any], declare: bool = True
) -> None:
    producer.publish(
        message.body,
        exchange=DEFAULT_EXCHANGE,
        routing_key=queue.name,
        headers=headers,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=2,
        mandatory=True,
        declare=[queue] if declare else [],
        retry=True,
        retry_policy={"max_retries": 3},
    )


def retry_or_park(
    amqp_uri: str, service: str, queue_name: str, message: Message, exc: BaseException
) -> Decision:
    """Put a copy of the failed `message` where it belongs; returns once RabbitMQ has it
    (the caller then acknowledges the original)."""
    headers = message.headers or {}
    decision = decide(exc, int(headers.get(ATTEMPTS, 0)), retry_delays())
    copy = _copy_headers(message) | {ATTEMPTS: decision.attempts, ORIGINAL_QUEUE: queue_name}
    with _producer(amqp_uri) as producer:
        if decision.parked:
            copy |= {ERROR: describe(exc), PARKED_AT: utcnow().isoformat(), DEAD_LETTER_ID: cuid()}
            _publish_copy(producer, message, dead_letter_queue(service), copy)
        else:
            _publish_copy(producer, message, retry_queue(queue_name, decision.delay or 0), copy)
    return decision


# What operators do with parked messages (`python -m ops dead-letters`).


@dataclass(frozen=True)
class DeadLetter:
    id: str
    service: str
    queue: str
    attempts: int
    parked_at: str
    error: str
    body: str


def _text(body: bytes | str) -> str:
    return body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body


def _as_dead_letter(service: str, message: Message) -> DeadLetter:
    headers = message.headers or {}
    return DeadLetter(
        id=str(headers.get(DEAD_LETTER_ID, "")),
        service=service,
        queue=str(headers.get(ORIGINAL_QUEUE, "")),
        attempts=int(headers.get(ATTEMPTS, 0)),
        parked_at=str(headers.get(PARKED_AT, "")),
        error=str(headers.get(ERROR, "")),
        body=_text(message.body),
    )


def count(amqp_uri: str, services: tuple[str, ...]) -> dict[str, int]:
    """Parked messages per service (declaring the queues: an empty one is a zero)."""
    counts: dict[str, int] = {}
    with Connection(amqp_uri, connect_timeout=5) as connection:
        channel = connection.default_channel
        for service in services:
            queue = dead_letter_queue(service)(channel)
            counts[service] = queue.queue_declare().message_count
    return counts


@contextmanager
def _holding_all(amqp_uri: str, service: str) -> Iterator[tuple[Any, list[Message]]]:
    """Every parked message of `service`, received but not acknowledged: what the caller
    does not acknowledge goes back, in order, when the channel closes."""
    with Connection(amqp_uri, connect_timeout=5) as connection:
        channel = connection.channel()
        try:
            queue = dead_letter_queue(service)(channel)
            queue.declare()
            held: list[Message] = []
            while (message := queue.get(no_ack=False)) is not None:
                held.append(message)
            yield connection, held
        finally:
            channel.close()


def list_parked(amqp_uri: str, service: str) -> list[DeadLetter]:
    with _holding_all(amqp_uri, service) as (_, held):
        return [_as_dead_letter(service, message) for message in held]


def _chosen(held: list[Message], dead_letter_id: str | None) -> list[Message]:
    if dead_letter_id is None:
        return held
    return [m for m in held if (m.headers or {}).get(DEAD_LETTER_ID) == dead_letter_id]


def _queue_exists(connection: Connection, name: str) -> bool:
    channel = connection.channel()
    try:
        channel.queue_declare(name, passive=True)
        return True
    except ChannelError:
        return False
    finally:
        with suppress(Exception):
            channel.close()


def replay(amqp_uri: str, service: str, dead_letter_id: str | None = None) -> tuple[int, int]:
    """Send parked messages (one, or all) back to the queue they failed on, with a fresh
    attempt count; each leaves the dead-letter queue only once RabbitMQ has the copy.
    Returns (replayed, kept): a message whose queue no longer exists stays parked."""
    replayed = kept = 0
    with _holding_all(amqp_uri, service) as (connection, held), _producer(amqp_uri) as producer:
        for message in _chosen(held, dead_letter_id):
            name = str((message.headers or {}).get(ORIGINAL_QUEUE, ""))
            if not name or not _queue_exists(connection, name):
                log.warning("dead letter kept: its queue %r does not exist", name)
                kept += 1
                continue
            # The consumer declared its own queue (with its own arguments): only route to it.
            _publish_copy(producer, message, Queue(name), _copy_headers(message), declare=False)
            message.ack()
            replayed += 1
    return replayed, kept


def drop(amqp_uri: str, service: str, dead_letter_id: str | None = None) -> int:
    """Delete parked messages (one, or all) for good."""
    with _holding_all(amqp_uri, service) as (_, held):
        chosen = _chosen(held, dead_letter_id)
        for message in chosen:
            message.ack()
        return len(chosen)
