"""Writing terminal usage in bulk: one INSERT per batch, duplicates dropped by the
(organization, idempotency key) unique constraint, hourly rollups updated in the same
transaction for exactly the rows that were new."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from services.metering.models import UsageEvent, UsageRollup
from shared.clock import utcnow
from shared.ids import cuid
from shared.unit_of_work import UnitOfWork


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def record_usage(uow: UnitOfWork, message: dict[str, Any]) -> tuple[int, int]:
    """Store a batch the gateway accepted; returns (new events, duplicates)."""
    received_at = (
        datetime.fromisoformat(message["received_at"]) if message.get("received_at") else utcnow()
    )
    rows = [
        {
            "id": cuid(),
            "organization_id": message["organization_id"],
            "api_key_id": message.get("api_key_id"),
            "event_type": event["event_type"],
            "event_data": event.get("event_data"),
            "quantity": int(event.get("quantity", 1)),
            "timestamp": datetime.fromisoformat(event["timestamp"])
            if event.get("timestamp")
            else received_at,
            "idempotency_key": event["idempotency_key"],
            "received_at": received_at,
        }
        for event in message["events"]
    ]
    if not rows:
        return 0, 0
    inserted = uow.session.execute(
        insert(UsageEvent)
        .values(rows)
        .on_conflict_do_nothing(
            index_elements=[UsageEvent.organization_id, UsageEvent.idempotency_key]
        )
        .returning(
            UsageEvent.api_key_id, UsageEvent.event_type, UsageEvent.timestamp, UsageEvent.quantity
        )
    ).all()
    _add_to_rollups(uow, message["organization_id"], inserted)
    return len(inserted), len(rows) - len(inserted)


def _add_to_rollups(uow: UnitOfWork, organization_id: str, inserted: list[Any]) -> None:
    quantities: Counter[tuple[datetime, str, str]] = Counter()
    counts: Counter[tuple[datetime, str, str]] = Counter()
    for api_key_id, event_type, timestamp, quantity in inserted:
        key = (_hour(timestamp), event_type, api_key_id or "")
        quantities[key] += quantity
        counts[key] += 1
    if not quantities:
        return
    # Sorted, so concurrent batches lock rollup rows in the same order (no deadlocks).
    values = [
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
    statement = insert(UsageRollup).values(values)
    uow.session.execute(
        statement.on_conflict_do_update(
            index_elements=[
                UsageRollup.organization_id,
                UsageRollup.hour,
                UsageRollup.event_type,
                UsageRollup.api_key_id,
            ],
            set_={
                "quantity": UsageRollup.quantity + statement.excluded.quantity,
                "events": UsageRollup.events + statement.excluded.events,
            },
        )
    )
