"""Notifications' tables (seed: EmailLog)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import ARRAY
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
    """One email: QUEUED (committed before it is handed to SMTP), then SENT or FAILED.
    It keeps what was sent (recipients, subject, both parts) so staff can read and resend
    it; never a token: an emailed link's token is withheld in the stored parts (see
    `emails`), and a resend asks for a fresh one (`token_kind`, `token_ref`)."""

    __tablename__ = "email_logs"
    __table_args__ = (
        Index("ix_email_logs_entity", "entity_type", "entity_id"),
        Index("ix_email_logs_recipients", "recipients", postgresql_using="gin"),
        Index("ix_email_logs_created", "created_at", "id"),
    )

    id: Mapped[str] = id_column()
    # The To header as sent; `recipients` holds the same addresses, lowercased, to search.
    to: Mapped[str] = mapped_column(index=True)
    recipients: Mapped[list[str]] = mapped_column(ARRAY(String), default=list, server_default="{}")
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
    organization_id: Mapped[str | None] = mapped_column(String(CUID_LENGTH), index=True)
    # The event this email answers: a redelivered event finds it and sends nothing twice.
    event_id: Mapped[str | None] = mapped_column(String(CUID_LENGTH), unique=True)
    # The request that caused it (the event's, or the staff member's resend), as in the
    # audit trail.
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)
    resent_from_id: Mapped[str | None] = mapped_column(
        String(CUID_LENGTH), ForeignKey("email_logs.id"), index=True
    )
    text_body: Mapped[str | None] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    token_kind: Mapped[str | None] = mapped_column(String(32))
    token_ref: Mapped[str | None] = mapped_column(String(CUID_LENGTH))
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    error_message: Mapped[str | None]
    created_at: Mapped[datetime] = defaults_to_now()
