"""Billing's tables (seed: BillingAccount, Service, Invoice, InvoiceLineItem, Credit).

Every amount is an integer of US cents, `BillingAccount.balance` included (the seed's
Decimal(10,2) becomes cents: positive = credit, negative = owed). `organization_id` points
into identity, another service, so it is a plain column kept consistent by events.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
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
    metadata = service_metadata("billing")
    type_annotation_map = TYPE_ANNOTATION_MAP


tables = standard_tables(Base)


class BillingAccountStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    OVERDUE = "OVERDUE"
    SUSPENDED = "SUSPENDED"


class InvoiceStatus(enum.StrEnum):
    DRAFT = "DRAFT"
    ISSUED = "ISSUED"
    PAID = "PAID"
    PARTIAL = "PARTIAL"
    OVERDUE = "OVERDUE"
    VOID = "VOID"


class BillingRunStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"  # finished, but some accounts could not be invoiced


class BillingRunItemStatus(enum.StrEnum):
    PENDING = "PENDING"
    DONE = "DONE"
    FAILED = "FAILED"


# A run still being worked on: a period has at most one.
ACTIVE_RUN_STATUSES = (BillingRunStatus.QUEUED, BillingRunStatus.RUNNING)


class ServiceType(enum.StrEnum):
    POS_TERMINAL = "POS_TERMINAL"
    POS_MAINTENANCE = "POS_MAINTENANCE"
    FUTURE_PRODUCT = "FUTURE_PRODUCT"


class ServiceStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    CANCELLED = "CANCELLED"


class BillingAccount(Base):
    __tablename__ = "billing_accounts"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(String(CUID_LENGTH), unique=True, index=True)
    status: Mapped[BillingAccountStatus] = mapped_column(
        enum_type(BillingAccountStatus),
        default=BillingAccountStatus.ACTIVE,
        server_default=BillingAccountStatus.ACTIVE.value,
        index=True,
    )
    grace_period_days: Mapped[int] = mapped_column(default=14, server_default="14")
    balance: Mapped[int] = mapped_column(default=0, server_default="0")
    # Set when the organization is deleted: its final invoice is issued, and the account
    # is never invoiced, credited or opened again (its records stay).
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = defaults_to_now()
    updated_at: Mapped[datetime] = updated_at_column()


class Service(Base):
    __tablename__ = "services"
    __table_args__ = (
        # A terminal (hardware serial) is leased on at most one active service at a time.
        Index(
            "uq_services_active_hardware_serial",
            "hardware_serial",
            unique=True,
            postgresql_where=text("status = 'ACTIVE' AND hardware_serial IS NOT NULL"),
        ),
    )

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(String(CUID_LENGTH), index=True)
    type: Mapped[ServiceType] = mapped_column(enum_type(ServiceType), index=True)
    # The latest agreed terms; those they replaced bill the periods before they take
    # effect (ServiceTerms).
    name: Mapped[str]
    hardware_serial: Mapped[str | None] = mapped_column(index=True)
    monthly_fee: Mapped[int]
    status: Mapped[ServiceStatus] = mapped_column(
        enum_type(ServiceStatus),
        default=ServiceStatus.ACTIVE,
        server_default=ServiceStatus.ACTIVE.value,
        index=True,
    )
    activated_at: Mapped[datetime] = defaults_to_now()
    suspended_at: Mapped[datetime | None]
    # Suspended because its account was (overdue): paying reactivates it with the account.
    # A service staff suspended by hand stays suspended until staff reactivate it.
    suspended_with_account: Mapped[bool] = mapped_column(default=False, server_default="false")
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = defaults_to_now()
    updated_at: Mapped[datetime] = updated_at_column()


class ServiceTerms(Base):
    """Terms a change replaced: they bill every period that starts before
    `effective_until` (the first day of the month the change took effect). A second
    change effective the same day keeps the row: the terms before that day are these."""

    __tablename__ = "service_terms"
    __table_args__ = (UniqueConstraint("service_id", "effective_until"),)

    id: Mapped[str] = id_column()
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"), index=True)
    name: Mapped[str]
    monthly_fee: Mapped[int]
    effective_until: Mapped[datetime]
    created_at: Mapped[datetime] = defaults_to_now()


class Invoice(Base):
    """Immutable once finalized: a database trigger (see the migration) refuses any change
    to its number, period, amounts or line items; only amountPaid, amountDue, status and
    paidAt move."""

    __tablename__ = "invoices"
    # One invoice per billing account per period, however often the run is repeated.
    __table_args__ = (UniqueConstraint("billing_account_id", "period_start"),)

    id: Mapped[str] = id_column()
    billing_account_id: Mapped[str] = mapped_column(
        ForeignKey("billing_accounts.id", ondelete="CASCADE"), index=True
    )
    # Assigned at finalization (INV-2026-000123); a draft has none yet.
    invoice_number: Mapped[str | None] = mapped_column(unique=True, index=True)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    subtotal: Mapped[int]
    tax: Mapped[int] = mapped_column(default=0, server_default="0")
    total: Mapped[int]
    amount_paid: Mapped[int] = mapped_column(default=0, server_default="0")
    amount_due: Mapped[int]
    status: Mapped[InvoiceStatus] = mapped_column(
        enum_type(InvoiceStatus),
        default=InvoiceStatus.DRAFT,
        server_default=InvoiceStatus.DRAFT.value,
        index=True,
    )
    issued_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    payment_token: Mapped[str | None] = mapped_column(unique=True, index=True)
    payment_token_expires_at: Mapped[datetime | None]
    finalized_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = defaults_to_now()
    updated_at: Mapped[datetime] = updated_at_column()

    line_items: Mapped[list[InvoiceLineItem]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", passive_deletes=True
    )


class InvoiceLineItem(Base):
    __tablename__ = "invoice_line_items"

    id: Mapped[str] = id_column()
    invoice_id: Mapped[str] = mapped_column(
        ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    description: Mapped[str]
    quantity: Mapped[int] = mapped_column(default=1, server_default="1")
    unit_price: Mapped[int]
    total: Mapped[int]
    service_id: Mapped[str | None] = mapped_column(ForeignKey("services.id"), index=True)
    created_at: Mapped[datetime] = defaults_to_now()

    invoice: Mapped[Invoice] = relationship(back_populates="line_items")


class Credit(Base):
    __tablename__ = "credits"

    id: Mapped[str] = id_column()
    billing_account_id: Mapped[str] = mapped_column(
        ForeignKey("billing_accounts.id", ondelete="CASCADE"), index=True
    )
    amount: Mapped[int]
    reason: Mapped[str]
    issued_by_id: Mapped[str | None] = mapped_column(String(CUID_LENGTH))
    # The payment whose money this is (on account, or beyond the amount due); None for a
    # credit staff issued. One credit per payment at most.
    payment_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = defaults_to_now()


class InvoiceNumberSequence(Base):
    """The last invoice number used in each year; taken under a row lock in the
    finalizing transaction, so numbers are unique and gapless."""

    __tablename__ = "invoice_number_sequences"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(default=0)


class AppliedPayment(Base):
    """Every payment counted, once: settlement is idempotent by payment id. A payment on
    account has no invoice (it became a Credit); credit applied at finalization is the
    payment `credit:<invoice id>`."""

    __tablename__ = "applied_payments"

    payment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount: Mapped[int]
    method: Mapped[str] = mapped_column(String(32))
    applied_at: Mapped[datetime] = defaults_to_now()


class BillingRun(Base):
    """A month-end billing run: a job over every billing account, worked on in batches by
    whichever billing instances are running (see `billing_runs`). `done` and `failed`
    move in the same transactions as the items they count."""

    __tablename__ = "billing_runs"
    __table_args__ = (
        # Starting a run for a period that already has one under way returns that one.
        Index(
            "uq_billing_runs_active_period",
            "period",
            unique=True,
            postgresql_where=text("status IN ('QUEUED', 'RUNNING')"),
        ),
        Index("ix_billing_runs_created", "created_at", "id"),
    )

    id: Mapped[str] = id_column()
    period: Mapped[str] = mapped_column(String(7))  # "2026-10"
    status: Mapped[BillingRunStatus] = mapped_column(
        enum_type(BillingRunStatus),
        default=BillingRunStatus.QUEUED,
        server_default=BillingRunStatus.QUEUED.value,
    )
    total: Mapped[int]
    done: Mapped[int] = mapped_column(default=0, server_default="0")
    failed: Mapped[int] = mapped_column(default=0, server_default="0")
    invoiced: Mapped[int] = mapped_column(default=0, server_default="0")
    # The staff user who started it; None for the hourly schedule and ops commands.
    started_by: Mapped[str | None] = mapped_column(String(CUID_LENGTH))
    created_at: Mapped[datetime] = defaults_to_now()
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class BillingRunItem(Base):
    """One billing account of a run. PENDING items are claimed `FOR UPDATE SKIP LOCKED`
    and held locked until their batch commits: a worker that dies leaves them PENDING
    for the next, and the invoice's uniqueness per account and period keeps the redo
    from billing twice."""

    __tablename__ = "billing_run_items"
    __table_args__ = (
        Index(
            "ix_billing_run_items_pending",
            "run_id",
            "billing_account_id",
            postgresql_where=text("status = 'PENDING'"),
        ),
    )

    run_id: Mapped[str] = mapped_column(
        ForeignKey("billing_runs.id", ondelete="CASCADE"), primary_key=True
    )
    billing_account_id: Mapped[str] = mapped_column(String(CUID_LENGTH), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(CUID_LENGTH))
    status: Mapped[BillingRunItemStatus] = mapped_column(
        enum_type(BillingRunItemStatus),
        default=BillingRunItemStatus.PENDING,
        server_default=BillingRunItemStatus.PENDING.value,
    )
    # invoiced, already invoiced, nothing to bill (RUN_RESULTS); None until done.
    result: Mapped[str | None] = mapped_column(String(32))
    invoice_number: Mapped[str | None]
    error: Mapped[str | None]
    finished_at: Mapped[datetime | None]
