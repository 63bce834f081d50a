"""Notifications' tables (seed: EmailLog)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import (
    CUID_LENGTH,
    TYPE_ANNOTATION_MAP,
    defaults_to_now,
    enum_type,
    id_column,
    service_metadata,
    standard_tables,
)


class Base(DeclarativeBase):
    metadata = service_metadata("notifications")
    type_annotation_map = TYPE_ANNOTATION_MAP


tables = standard_tables(Base)


class EmailStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    SENT = "SENT"
    FAILED = "FAILED"


class EmailLog(Base):
    __tablename__ = "email_logs"
    __table_args__ = (Index("ix_email_logs_entity", "entity_type", "entity_id"),)

    id: Mapped[str] = id_column()
    to: Mapped[str] = mapped_column(index=True)
    subject: Mapped[str]
    template: Mapped[str]
    status: Mapped[EmailStatus] = mapped_column(
        enum_type(EmailStatus),
        default=EmailStatus.QUEUED,
        server_default=EmailStatus.QUEUED.value,
        index=True,
    )
    entity_type: Mapped[str | None]
    entity_id: Mapped[str | None]
    # The event this email answers: a redelivered event finds it and sends nothing twice.
    event_id: Mapped[str | None] = mapped_column(String(CUID_LENGTH), unique=True)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    error_message: Mapped[str | None]
    created_at: Mapped[datetime] = defaults_to_now()
