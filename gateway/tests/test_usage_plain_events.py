"""Plain usage events skip marshmallow at the gateway: whatever the fast path accepts, the
schema accepts too and publishes the same; whatever it cannot vouch for goes to the schema."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from marshmallow import ValidationError

from gateway.usage import _plain_event
from services.metering.schemas import UsageEventInSchema
from shared.clock import utcnow


def through_the_schema(event: dict[str, Any], now: datetime) -> dict[str, Any]:
    loaded = UsageEventInSchema().load(event)
    return {
        "event_type": loaded["event_type"],
        "quantity": loaded["quantity"],
        "timestamp": (loaded.get("timestamp") or now).isoformat(),
        "event_data": loaded.get("event_data"),
        "idempotency_key": loaded["idempotency_key"],
    }


# Built at each test's own time: the schema bounds timestamps by the clock when it loads.


def plain(now: datetime) -> list[dict[str, Any]]:
    return [
        {"event_type": "pos.transaction", "idempotency_key": "k1"},
        {"event_type": "pos.transaction", "idempotency_key": "k" * 128, "quantity": 1_000_000},
        {"event_type": "p" * 64, "idempotency_key": "k2", "quantity": 3},
        {
            "event_type": "pos.refund",
            "idempotency_key": "k3",
            "timestamp": (now - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        {
            "event_type": "pos.refund",
            "idempotency_key": "k4",
            "timestamp": (now - timedelta(days=2)).isoformat(),
        },
        {
            "event_type": "pos.refund",
            "idempotency_key": "k5",
            "timestamp": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%f+02:00"),
        },
    ]


def not_plain(now: datetime) -> list[Any]:
    return [
        {"event_type": "pos.transaction", "idempotency_key": "k", "event_data": {"a": 1}},
        {"event_type": "pos.transaction", "idempotency_key": "k", "extra": 1},
        {"event_type": "pos.transaction", "idempotency_key": ""},
        {"event_type": "pos.transaction", "idempotency_key": "k" * 129},
        {"event_type": "p" * 65, "idempotency_key": "k"},
        {"event_type": "pos.transaction", "idempotency_key": "k\u0000"},
        {"event_type": "pos.transaction\ud800", "idempotency_key": "k"},
        {"event_type": "pos.transaction", "idempotency_key": "k", "quantity": 0},
        {"event_type": "pos.transaction", "idempotency_key": "k", "quantity": True},
        {"event_type": "pos.transaction", "idempotency_key": "k", "quantity": 1.0},
        {"event_type": "pos.transaction", "idempotency_key": "k", "quantity": 1_000_001},
        {"event_type": "pos.transaction", "idempotency_key": "k", "timestamp": None},
        {"event_type": "pos.transaction", "idempotency_key": "k", "timestamp": "2026-11-26"},
        {
            "event_type": "pos.transaction",
            "idempotency_key": "k",
            "timestamp": "2026-11-26T10:00:00",
        },
        {
            "event_type": "pos.transaction",
            "idempotency_key": "k",
            "timestamp": "2026-02-30T10:00:00Z",
        },
        {
            "event_type": "pos.transaction",
            "idempotency_key": "k",
            "timestamp": (now + timedelta(minutes=6)).isoformat(),
        },
        {
            "event_type": "pos.transaction",
            "idempotency_key": "k",
            "timestamp": (now - timedelta(days=36)).isoformat(),
        },
        {"idempotency_key": "k"},
        ["not", "an", "object"],
    ]


@pytest.mark.parametrize("index", range(len(plain(utcnow()))))
def test_a_plain_event_is_published_as_the_schema_would(index: int) -> None:
    now = utcnow()
    event = plain(now)[index]
    assert _plain_event(event, now) == through_the_schema(event, now)


@pytest.mark.parametrize("index", range(len(not_plain(utcnow()))))
def test_anything_else_is_left_to_the_schema(index: int) -> None:
    now = utcnow()
    assert _plain_event(not_plain(now)[index], now) is None


def test_the_schema_refuses_what_the_fast_path_refuses_for_bounds() -> None:
    events = not_plain(utcnow())
    for event in events[2:5] + events[7:12] + events[15:18]:
        with pytest.raises(ValidationError):
            UsageEventInSchema().load(event)
