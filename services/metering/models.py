"""Metering's tables (seed: UsageEvent), plus the allowed event types and hourly rollups.

`organization_id` and `api_key_id` point into identity and `invoice_id` into billing, other
services, so they are plain columns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import (
    CUID_LENGTH,
    TYPE_ANNOTATION_MAP,
    defaults_to_now,
    id_column,
    service_metadata,
    standard_tables,
    updated_at_column,
)


class Base(DeclarativeBase):
    metadata = service_metadata("metering")
    type_annotation_map = TYPE_ANNOTATION_MAP


tables = standard_tables(Base)


class UsageEvent(Base):
    __tablename__ = "usage_events"
    __table_args__ = (
        # The same key from the same organization is recorded once, however often sent.
        UniqueConstraint("organization_id", "idempotency_key"),
        # Billing claims an organization's unbilled events up to a period's end.
        Index(
            "ix_usage_events_unbilled",
            "organization_id",
            "timestamp",
            postgresql_where="invoice_id IS NULL",
        ),
    )

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(String(CUID_LENGTH), index=True)
    api_key_id: Mapped[str | None] = mapped_column(String(CUID_LENGTH), index=True)
    event_type: Mapped[str] = mapped_column(index=True)
    event_data: Mapped[dict[str, Any] | None]
    quantity: Mapped[int] = mapped_column(default=1, server_default="1")
    timestamp: Mapped[datetime] = defaults_to_now(index=True)
    idempotency_key: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = defaults_to_now()
    # The invoice this usage was billed on; NULL until billing claims it.
    invoice_id: Mapped[str | None] = mapped_column(String(CUID_LENGTH), index=True)


class EventType(Base):
    """The registry of event types terminals may report (staff edit it)."""

    __tablename__ = "event_types"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str]
    is_active: Mapped[bool] = mapped_column(default=True, server_default="true")
    created_at: Mapped[datetime] = defaults_to_now()
    updated_at: Mapped[datetime] = updated_at_column()


class UsageRollup(Base):
    """Usage per organization x API key x event type x hour, kept in the same transaction
    as the events, so reports read thousands of rows instead of millions."""

    __tablename__ = "usage_rollups"
    __table_args__ = (UniqueConstraint("organization_id", "hour", "event_type", "api_key_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(String(CUID_LENGTH))
    hour: Mapped[datetime]
    event_type: Mapped[str] = mapped_column(String(64))
    # "" for events without a key, so the unique constraint holds (NULLs never collide).
    api_key_id: Mapped[str] = mapped_column(String(CUID_LENGTH), server_default="")
    quantity: Mapped[int] = mapped_column(BigInteger)
    events: Mapped[int] = mapped_column(BigInteger)
