"""Support's tables (seed: SupportTicket, SupportMessage). `organization_id`,
`assigned_to_id`, `opened_by_id` and `sender_id` point into identity, and `invoice_id`,
`payment_id` and `service_id` into billing and payments, so they are plain columns.

Both tables carry a generated `tsvector` (English) with a GIN index: PostgreSQL keeps it
current on every write, and searches use the index, never LIKE."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Computed, ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.clock import utcnow
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


# A ticket someone still has to act on (counted as open, and where automatic notes go).
OPEN_STATUSES = (
    SupportTicketStatus.OPEN,
    SupportTicketStatus.IN_PROGRESS,
    SupportTicketStatus.WAITING_ON_CLIENT,
)


class SupportPriority(enum.StrEnum):
    LOW = "LOW"
    NORMAL = "NORMAL"
    HIGH = "HIGH"
    URGENT = "URGENT"


class TicketSource(enum.StrEnum):
    CLIENT = "client"
    STAFF = "staff"
    SYSTEM = "system"


SOURCES_CHECK = "source IN ('client', 'staff', 'system')"
# The sender of notes the suite itself writes (tickets that open themselves).
SYSTEM_SENDER = "system"


class SupportTicket(Base):
    __tablename__ = "support_tickets"
    __table_args__ = (
        CheckConstraint(SOURCES_CHECK, name="source"),
        Index("ix_support_tickets_search", "search_vector", postgresql_using="gin"),
    )

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
    # What the ticket is about, checked with its owner when it was opened (at most one).
    invoice_id: Mapped[str | None] = mapped_column(String(CUID_LENGTH))
    payment_id: Mapped[str | None] = mapped_column(String(CUID_LENGTH), index=True)
    service_id: Mapped[str | None] = mapped_column(String(CUID_LENGTH))
    source: Mapped[TicketSource] = mapped_column(
        String(16), default=TicketSource.CLIENT, server_default=TicketSource.CLIENT.value
    )
    opened_by_id: Mapped[str | None] = mapped_column(String(CUID_LENGTH))
    first_response_due_at: Mapped[datetime] = mapped_column(index=True)
    # The first PUBLIC staff reply; internal notes are no response to the client.
    first_responded_at: Mapped[datetime | None]
    # What opened a ticket by itself, e.g. "payment.disputed:<payment id>".
    origin_key: Mapped[str | None] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime] = defaults_to_now()
    updated_at: Mapped[datetime] = updated_at_column()
    resolved_at: Mapped[datetime | None]
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR,
        Computed("to_tsvector('english', subject || ' ' || description)", persisted=True),
        deferred=True,
    )

    messages: Mapped[list[SupportMessage]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def response_breached(self) -> bool:
        """The first staff response came (or is still missing) after it was due."""
        return (self.first_responded_at or utcnow()) > self.first_response_due_at


class SupportMessage(Base):
    __tablename__ = "support_messages"
    __table_args__ = (Index("ix_support_messages_search", "search_vector", postgresql_using="gin"),)

    id: Mapped[str] = id_column()
    ticket_id: Mapped[str] = mapped_column(
        ForeignKey("support_tickets.id", ondelete="CASCADE"), index=True
    )
    sender_id: Mapped[str] = mapped_column(String(CUID_LENGTH), index=True)
    sender_is_staff: Mapped[bool] = mapped_column(default=False, server_default="false")
    message: Mapped[str]
    # Internal notes are never shown to the client and never emailed.
    is_internal: Mapped[bool] = mapped_column(default=False, server_default="false")
    # The event a note was written from: each event adds to a ticket once.
    event_id: Mapped[str | None] = mapped_column(String(CUID_LENGTH), unique=True)
    created_at: Mapped[datetime] = defaults_to_now()
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR, Computed("to_tsvector('english', message)", persisted=True), deferred=True
    )

    ticket: Mapped[SupportTicket] = relationship(back_populates="messages")


class DailySummary(Base):
    """One row per day the staff summary went out: every replica's timer tries, the first
    insert wins, a restart finds the row."""

    __tablename__ = "daily_summaries"

    day: Mapped[date] = mapped_column(primary_key=True)
    sent_at: Mapped[datetime] = defaults_to_now()
