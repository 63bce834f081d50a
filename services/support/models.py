"""Support's tables (seed: SupportTicket, SupportMessage). `organization_id`,
`assigned_to_id` and `sender_id` point into identity, so they are plain columns."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import (
    CUID_LENGTH,
    TYPE_ANNOTATION_MAP,
    defaults_to_now,
    enum_type,
    id_column,
    service_metadata,
    standard_tables,
    updated_at_column,
)


class Base(DeclarativeBase):
    metadata = service_metadata("support")
    type_annotation_map = TYPE_ANNOTATION_MAP


tables = standard_tables(Base)


class SupportTicketStatus(enum.StrEnum):
    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    WAITING_ON_CLIENT = "WAITING_ON_CLIENT"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"


class SupportPriority(enum.StrEnum):
    LOW = "LOW"
    NORMAL = "NORMAL"
    HIGH = "HIGH"
    URGENT = "URGENT"


class SupportTicket(Base):
    __tablename__ = "support_tickets"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(String(CUID_LENGTH), index=True)
    subject: Mapped[str]
    description: Mapped[str]
    status: Mapped[SupportTicketStatus] = mapped_column(
        enum_type(SupportTicketStatus),
        default=SupportTicketStatus.OPEN,
        server_default=SupportTicketStatus.OPEN.value,
        index=True,
    )
    priority: Mapped[SupportPriority] = mapped_column(
        enum_type(SupportPriority),
        default=SupportPriority.NORMAL,
        server_default=SupportPriority.NORMAL.value,
    )
    assigned_to_id: Mapped[str | None] = mapped_column(String(CUID_LENGTH), index=True)
    created_at: Mapped[datetime] = defaults_to_now()
    updated_at: Mapped[datetime] = updated_at_column()
    resolved_at: Mapped[datetime | None]

    messages: Mapped[list[SupportMessage]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", passive_deletes=True
    )


class SupportMessage(Base):
    __tablename__ = "support_messages"

    id: Mapped[str] = id_column()
    ticket_id: Mapped[str] = mapped_column(
        ForeignKey("support_tickets.id", ondelete="CASCADE"), index=True
    )
    sender_id: Mapped[str] = mapped_column(String(CUID_LENGTH), index=True)
    message: Mapped[str]
    # Internal notes are never shown to the client and never emailed.
    is_internal: Mapped[bool] = mapped_column(default=False, server_default="false")
    created_at: Mapped[datetime] = defaults_to_now()

    ticket: Mapped[SupportTicket] = relationship(back_populates="messages")
