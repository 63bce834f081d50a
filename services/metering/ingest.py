"""Writing terminal usage in bulk: one INSERT per batch, duplicates dropped by the
(organization, idempotency key) unique constraint, hourly rollups updated in the same
transaction for exactly the rows that were new.

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
from shared.clock import utcnow
from shared.ids import cuid
from shared.unit_of_work import UnitOfWork

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


def record_usage(uow: UnitOfWork, message: dict[str, Any]) -> tuple[int, int]:
    """Store a batch the gateway accepted; returns (new events, duplicates)."""
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
        for event in message["events"]
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
