"""Terminal usage at the gateway: reported events are validated one by one (the input gate
first, so an accepted event is always one metering can store), and the valid ones are
handed to RabbitMQ (persistent, publisher-confirmed) before the gateway answers 202 — once
the broker has them, they survive metering being down. Every authenticated terminal
request is also counted as an `api.call` event; those are batched and sent every second (a
gateway crash can lose up to a second of them)."""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

from marshmallow import ValidationError
from nameko.amqp.publish import Publisher
from nameko.extensions import DependencyProvider

from services.metering.events import USAGE_EXCHANGE, USAGE_QUEUE, USAGE_ROUTING_KEY
from services.metering.schemas import (
    FUTURE_TOLERANCE,
    LATE_WINDOW,
    MAX_QUANTITY,
    UsageEventInSchema,
)
from shared import context, input_gate, tracing
from shared.clock import utcnow
from shared.dependencies import spawn_periodic
from shared.errors import Unavailable, ValidationFailed

log = logging.getLogger(__name__)

API_CALL = "api.call"
API_CALL_FLUSH_SECONDS = 1.0
EVENT_TYPES_CACHE_SECONDS = 30.0
MAX_EVENT_TYPE = 64
MAX_IDEMPOTENCY_KEY = 128

_PLAIN_FIELDS = frozenset({"event_type", "quantity", "timestamp", "idempotency_key"})
# A subset of the moments UsageEventInSchema reads (marshmallow's ISO-8601 with an offset).
_PLAIN_MOMENT = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})"
)


class UsageRecorder(DependencyProvider):
    def setup(self) -> None:
        self.publisher = Publisher(
            self.container.config["AMQP_URI"], serializer="json", declare=[USAGE_QUEUE]
        )
        self.pending_api_calls: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self._event_types: tuple[frozenset[str], float] = (frozenset(), 0.0)
        self._flusher: Any = None

    def start(self) -> None:
        self._flusher = spawn_periodic(
            self.container, API_CALL_FLUSH_SECONDS, self.flush_api_calls, "sending api.call events"
        )

    def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.kill()
        self.flush_api_calls()

    def publish(self, message: dict[str, Any]) -> None:
        """Returns once RabbitMQ confirmed the message (persistent, durable queue). It
        carries the request's call context and, when tracing, its span: metering's
        consumer continues that trace."""
        self.publisher.publish(
            message,
            exchange=USAGE_EXCHANGE,
            routing_key=USAGE_ROUTING_KEY,
            mandatory=True,
            headers=tracing.publishing_headers(),
        )

    def flush_api_calls(self) -> None:
        pending, self.pending_api_calls = self.pending_api_calls, defaultdict(list)
        for (organization_id, api_key_id), events in pending.items():
            message = _message(organization_id, api_key_id, events)
            try:
                self.publish(message)
            except Exception:
                log.warning("could not send %d api.call event(s); keeping them", len(events),
                            exc_info=True)  # fmt: skip
                self.pending_api_calls[(organization_id, api_key_id)].extend(events)

    def forget_event_types(self) -> None:
        self._event_types = (frozenset(), 0.0)

    def event_types(self, fetch: Any) -> frozenset[str]:
        names, expires = self._event_types
        if expires < time.monotonic():
            names = frozenset(fetch())
            self._event_types = (names, time.monotonic() + EVENT_TYPES_CACHE_SECONDS)
        return names

    def get_dependency(self, worker_ctx: Any) -> UsageRecorder:
        return self


def _message(organization_id: str, api_key_id: str, events: list[dict[str, Any]]) -> dict:
    return {
        "organization_id": organization_id,
        "api_key_id": api_key_id,
        "received_at": utcnow().isoformat(),
        "events": events,
    }


def record_api_call(recorder: UsageRecorder, ctx: context.CallContext) -> None:
    event = {
        "event_type": API_CALL,
        "quantity": 1,
        "timestamp": utcnow().isoformat(),
        "idempotency_key": f"{API_CALL}:{ctx.request_id}",
    }
    recorder.pending_api_calls[(ctx.organization_id or "", ctx.actor_id or "")].append(event)


def _echoable_key(event: Any) -> str | None:
    key = event.get("idempotency_key") if isinstance(event, dict) else None
    return key if isinstance(key, str) and input_gate.text_problem(key) is None else None


def _refuse_unstorable(event: Any) -> None:
    """NUL, lone surrogates, huge numbers, too deep: refused here, one event at a time,
    so they never reach metering (which would fail on them with the whole batch)."""
    errors = input_gate.value_errors(event)
    if errors:
        raise ValidationError(errors)


def _fields_at_fault(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-event errors as the error shape names fields: `events.<index>.<field>`."""
    return {
        f"events.{result['index']}" + ("" if name == "_schema" else f".{name}"): messages
        for result in results
        for name, messages in result["errors"].items()
    }


def _plain_event(event: Any, now: datetime) -> dict[str, Any] | None:
    """The event as it is published, if it is a plain one the schema would accept as it
    is (no event_data; every field of the right type, within its bounds); else None, and
    the schema decides, with its messages. Loading 1,000 events through marshmallow was
    most of the gateway's time on a batch (docs/performance.md)."""
    if type(event) is not dict or not event.keys() <= _PLAIN_FIELDS:
        return None
    event_type, key = event.get("event_type"), event.get("idempotency_key")
    quantity = event.get("quantity", 1)
    if not (
        type(event_type) is str
        and len(event_type) <= MAX_EVENT_TYPE
        and type(key) is str
        and 0 < len(key) <= MAX_IDEMPOTENCY_KEY
        and type(quantity) is int
        and 0 < quantity <= MAX_QUANTITY
        and input_gate.text_problem(event_type) is None
        and input_gate.text_problem(key) is None
    ):
        return None
    timestamp = now
    if "timestamp" in event:
        given = event["timestamp"]
        if type(given) is not str or not _PLAIN_MOMENT.fullmatch(given):
            return None
        try:
            timestamp = datetime.fromisoformat(given)
        except ValueError:  # a day or hour that does not exist
            return None
        if not now - LATE_WINDOW <= timestamp <= now + FUTURE_TOLERANCE:
            return None
    return {
        "event_type": event_type,
        "quantity": quantity,
        "timestamp": timestamp.isoformat(),
        "event_data": None,
        "idempotency_key": key,
    }


def accept_usage(
    recorder: UsageRecorder, body: dict[str, Any], known_types: frozenset[str]
) -> dict[str, Any]:
    """Validate each event; publish the valid ones; answer per event. A batch without a
    valid event is refused (422) in the one error shape, each event's errors in `fields`."""
    ctx = context.current()
    events = body.get("events", [body])
    schema = UsageEventInSchema()
    results: list[dict[str, Any]] = []
    accepted: list[dict[str, Any]] = []
    now = utcnow()
    for index, event in enumerate(events):
        plain = _plain_event(event, now)
        if (
            plain is not None
            and plain["event_type"] in known_types
            and plain["event_type"] != API_CALL
        ):
            accepted.append(plain)
            results.append(
                {"index": index, "status": "accepted", "idempotency_key": plain["idempotency_key"]}
            )
            continue
        key = _echoable_key(event)
        try:
            _refuse_unstorable(event)
            loaded = schema.load(event)
            if loaded["event_type"] not in known_types or loaded["event_type"] == API_CALL:
                raise ValidationError({"event_type": ["not a registered event type"]})
        except ValidationError as exc:
            errors = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
            results.append(
                {"index": index, "status": "rejected", "idempotency_key": key, "errors": errors}
            )
            continue
        accepted.append(
            {
                "event_type": loaded["event_type"],
                "quantity": loaded["quantity"],
                "timestamp": (loaded.get("timestamp") or utcnow()).isoformat(),
                "event_data": loaded.get("event_data"),
                "idempotency_key": loaded["idempotency_key"],
            }
        )
        results.append({"index": index, "status": "accepted", "idempotency_key": key})
    if not accepted:
        raise ValidationFailed("no event in the batch is valid", _fields_at_fault(results))
    try:
        recorder.publish(_message(ctx.organization_id or "", ctx.actor_id or "", accepted))
    except Exception as exc:
        log.warning("usage batch not accepted: broker unavailable", exc_info=True)
        raise Unavailable("usage could not be stored; send it again") from exc
    rejected = len(events) - len(accepted)
    return {"accepted": len(accepted), "rejected": rejected, "results": results}
