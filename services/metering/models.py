"""Metering's tables (seed: UsageEvent). `organization_id` and `api_key_id` point into
identity, another service, so they are plain columns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import (
    CUID_LENGTH,
    TYPE_ANNOTATION_MAP,
    defaults_to_now,
    id_column,
    service_metadata,
    standard_tables,
)


class Base(DeclarativeBase):
    metadata = service_metadata("metering")
    type_annotation_map = TYPE_ANNOTATION_MAP


tables = standard_tables(Base)


class UsageEvent(Base):
    __tablename__ = "usage_events"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(String(CUID_LENGTH), index=True)
    api_key_id: Mapped[str | None] = mapped_column(String(CUID_LENGTH), index=True)
    event_type: Mapped[str] = mapped_column(index=True)
    event_data: Mapped[dict[str, Any] | None]
    quantity: Mapped[int] = mapped_column(default=1, server_default="1")
    timestamp: Mapped[datetime] = defaults_to_now(index=True)
