"""Time is UTC and timezone-aware everywhere; naive datetimes are a bug."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
