"""Writing terminal usage in bulk: one INSERT per batch, duplicates dropped by the
(organization, idempotency key) unique constraint, hourly rollups updated in the same
transaction for exactly the rows that were new.

What arrives here was validated by the gateway, but anything on the broker can publish to
metering's queue: each event is checked again against what the tables can hold. The
storable events of a batch are written; the others are named in a `ValidationFailed`, which
parks the message as a dead letter for a person to see (a replay writes nothing twice).

Both statements are built once and executed with the whole batch as parameters
(SQLAlchemy's "insertmanyvalues": multi-row INSERTs, compiled once), directly on the
connection: no ORM objects for rows nobody reads again.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from services.metering.models import UsageEvent, UsageRollup
from shared import input_gate
from shared.clock import utcnow
from shared.db import CUID_LENGTH
from shared.ids import cuid
from shared.unit_of_work import UnitOfWork

MAX_EVENT_TYPE = 64
MAX_IDEMPOTENCY_KEY = 128
MAX_QUANTITY = 1_000_000

_events = UsageEvent.__table__
_rollups = UsageRollup.__table__

_INSERT_NEW_EVENTS = (
    insert(_events)
    .on_conflict_do_nothing(index_elements=["organization_id", "idempotency_key"])
    .returning(_events.c.api_key_id, _events.c.event_type, _events.c.timestamp, _events.c.quantity)
)

_ADD_TO_ROLLUPS = insert(_rollups)
_ADD_TO_ROLLUPS = _ADD_TO_ROLLUPS.on_conflict_do_update(
    index_elements=["organization_id", "hour", "event_type", "api_key_id"],
    set_={
        "quantity": _rollups.c.quantity + _ADD_TO_ROLLUPS.excluded.quantity,
        "events": _rollups.c.events + _ADD_TO_ROLLUPS.excluded.events,
    },
    # RETURNING makes psycopg2 send multi-row statements instead of one per row.
).returning(_rollups.c.id)


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _moment(value: str | None, default: datetime) -> datetime:
    return datetime.fromisoformat(value) if value else default


def _is_text(value: Any, longest: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= longest


def _is_moment(value: Any) -> bool:
    if value is None:
        return True
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _event_problems(event: Any) -> dict[str, list[str]]:
    if not isinstance(event, dict):
        return {"": ["not an object"]}
    problems = input_gate.value_errors(event)
    if not _is_text(event.get("event_type"), MAX_EVENT_TYPE):
        problems.setdefault("event_type", []).append(f"1 to {MAX_EVENT_TYPE} characters")
    if not _is_text(event.get("idempotency_key"), MAX_IDEMPOTENCY_KEY):
        problems.setdefault("idempotency_key", []).append(f"1 to {MAX_IDEMPOTENCY_KEY} characters")
    quantity = event.get("quantity", 1)
    if (
        isinstance(quantity, bool)
        or not isinstance(quantity, int)
        or not 0 < quantity <= MAX_QUANTITY
    ):
        problems.setdefault("quantity", []).append(f"an integer from 1 to {MAX_QUANTITY}")
    if not _is_moment(event.get("timestamp")):
        problems.setdefault("timestamp", []).append("an ISO-8601 time with a UTC offset")
    return problems


def storable_events(message: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The events of `message` the tables can hold, and what is wrong with the others
    (by path: `events.3.idempotency_key`). A message without a usable organization, or
    that is not a batch at all, has no storable event."""
    problems: dict[str, list[str]] = {}
    if not _is_text(message.get("organization_id"), CUID_LENGTH):
        problems["organization_id"] = [f"1 to {CUID_LENGTH} characters"]
    api_key_id = message.get("api_key_id")
    if api_key_id is not None and not _is_text(api_key_id, CUID_LENGTH):
        problems["api_key_id"] = [f"1 to {CUID_LENGTH} characters, or null"]
    if not _is_moment(message.get("received_at")):
        problems["received_at"] = ["an ISO-8601 time with a UTC offset"]
    events = message.get("events")
    if not isinstance(events, list):
        problems["events"] = ["a list of events"]
    if problems:
        return [], problems
    storable = []
    for index, event in enumerate(events):
        wrong = _event_problems(event)
        for field, messages in wrong.items():
            problems[input_gate.join_path(["events", index, *([field] if field else [])])] = (
                messages
            )
        if not wrong:
            storable.append(event)
    return storable, problems


def record_usage(
    uow: UnitOfWork, message: dict[str, Any], events: list[dict[str, Any]] | None = None
) -> tuple[int, int]:
    """Store a batch's `events` (by default, its storable ones); returns (new events,
    duplicates). The caller refuses the rest (see `storable_events`) after this commits."""
    if events is None:
        events, _ = storable_events(message)
    received_at = _moment(message.get("received_at"), utcnow())
    rows = [
        {
            "id": cuid(),
            "organization_id": message["organization_id"],
            "api_key_id": message.get("api_key_id"),
            "event_type": event["event_type"],
            "event_data": event.get("event_data"),
            "quantity": int(event.get("quantity", 1)),
            "timestamp": _moment(event.get("timestamp"), received_at),
            "idempotency_key": event["idempotency_key"],
            "received_at": received_at,
            "invoice_id": None,
        }
        for event in events
    ]
    if not rows:
        return 0, 0
    connection = uow.session.connection()
    inserted = connection.execute(_INSERT_NEW_EVENTS, rows).all()
    rollups = _rollup_rows(message["organization_id"], inserted)
    if rollups:
        connection.execute(_ADD_TO_ROLLUPS, rollups).all()
    return len(inserted), len(rows) - len(inserted)


def _rollup_rows(organization_id: str, inserted: list[Any]) -> list[dict[str, Any]]:
    quantities: Counter[tuple[datetime, str, str]] = Counter()
    counts: Counter[tuple[datetime, str, str]] = Counter()
    for api_key_id, event_type, timestamp, quantity in inserted:
        key = (_hour(timestamp), event_type, api_key_id or "")
        quantities[key] += quantity
        counts[key] += 1
    # Sorted, so concurrent batches lock rollup rows in the same order (no deadlocks).
    return [
        {
            "organization_id": organization_id,
            "hour": hour,
            "event_type": event_type,
            "api_key_id": api_key_id,
            "quantity": quantities[(hour, event_type, api_key_id)],
            "events": counts[(hour, event_type, api_key_id)],
        }
        for hour, event_type, api_key_id in sorted(quantities)
    ]
