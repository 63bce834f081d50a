"""Payments' tables (seed: Payment). `organization_id`, `billing_account_id` and
`invoice_id` point into other services, so they are plain columns. `amount` is in cents.

Paynow payments also keep what Paynow told us (poll URL, browser URL, instructions) and
when the poller should ask next; manual and credit payments leave those empty."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Index, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

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
    metadata = service_metadata("payments")
    type_annotation_map = TYPE_ANNOTATION_MAP


tables = standard_tables(Base)


class PaymentMethod(enum.StrEnum):
    PAYNOW_ECOCASH = "PAYNOW_ECOCASH"
    PAYNOW_ONEMONEY = "PAYNOW_ONEMONEY"
    PAYNOW_INNBUCKS = "PAYNOW_INNBUCKS"
    PAYNOW_VISA = "PAYNOW_VISA"
    PAYNOW_MASTERCARD = "PAYNOW_MASTERCARD"
    BANK_TRANSFER = "BANK_TRANSFER"
    CASH = "CASH"
    CREDIT = "CREDIT"


class PaymentStatus(enum.StrEnum):
    PENDING = "PENDING"
    PAID = "PAID"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


PAYNOW_METHODS = (
    PaymentMethod.PAYNOW_ECOCASH,
    PaymentMethod.PAYNOW_ONEMONEY,
    PaymentMethod.PAYNOW_INNBUCKS,
    PaymentMethod.PAYNOW_VISA,
    PaymentMethod.PAYNOW_MASTERCARD,
)
# Payments whose external_id is ours to keep unique: a bank reference or receipt number
# entered once, and `credit:<invoice id>` for credit applied at finalization.
RECORDED_METHODS = (PaymentMethod.BANK_TRANSFER, PaymentMethod.CASH, PaymentMethod.CREDIT)
RECORDED_WHERE = f"method IN ({', '.join(repr(method.value) for method in RECORDED_METHODS)})"
LIVE_WHERE = "status = 'PENDING'"


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        # At most one live Paynow attempt per invoice: two payers (or two clicks) racing
        # to start one get the same attempt, never two debits.
        Index(
            "uq_payments_live_attempt",
            "invoice_id",
            unique=True,
            postgresql_where=text(LIVE_WHERE),
        ),
        # A bank reference, receipt number or applied credit is recorded once per account.
        Index(
            "uq_payments_recorded_reference",
            "billing_account_id",
            "external_id",
            unique=True,
            postgresql_where=text(RECORDED_WHERE),
        ),
        # The poller's pass: pending payments, oldest first (few rows, read every interval).
        Index("ix_payments_pending", "initiated_at", postgresql_where=text(LIVE_WHERE)),
    )

    id: Mapped[str] = id_column()
    # Null on payments recorded before it was kept (manual ones, whose invoice says).
    organization_id: Mapped[str | None] = mapped_column(String(CUID_LENGTH), index=True)
    billing_account_id: Mapped[str] = mapped_column(String(CUID_LENGTH), index=True)
    # Null for a payment on account (it becomes credit).
    invoice_id: Mapped[str | None] = mapped_column(String(CUID_LENGTH), index=True)
    # Copied at initiation so lists and receipts need not ask billing per row.
    invoice_number: Mapped[str | None]
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    method: Mapped[PaymentMethod] = mapped_column(enum_type(PaymentMethod))
    status: Mapped[PaymentStatus] = mapped_column(
        enum_type(PaymentStatus),
        default=PaymentStatus.PENDING,
        server_default=PaymentStatus.PENDING.value,
        index=True,
    )
    # Paynow's reference, or the bank reference / receipt number staff entered.
    external_id: Mapped[str | None] = mapped_column(index=True)
    # Paynow's own status as last confirmed by a poll (e.g. Disputed on a PAID payment).
    external_status: Mapped[str | None]
    paynow_status_changed_at: Mapped[datetime | None]
    # Where Paynow answers about this transaction: only ever one Paynow gave us, verified.
    poll_url: Mapped[str | None]
    browser_url: Mapped[str | None]  # web checkout: where the payer approves
    phone: Mapped[str | None] = mapped_column(String(16))  # express checkout, 07XXXXXXXX
    instructions: Mapped[str | None]  # what Paynow tells the payer to do on their phone
    authorization_code: Mapped[str | None] = mapped_column(String(64))  # InnBucks
    # The poller's schedule. next_poll_at is when a pending payment is due (null: no poll
    # URL, so only expiry can end it); poll_count drives the backoff, so an abandoned
    # attempt is not asked about every interval for an hour; last_polled_at is for staff.
    last_polled_at: Mapped[datetime | None]
    next_poll_at: Mapped[datetime | None]
    poll_count: Mapped[int] = mapped_column(default=0, server_default="0")
    initiated_at: Mapped[datetime] = defaults_to_now()
    completed_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    error_message: Mapped[str | None]
    created_at: Mapped[datetime] = defaults_to_now()
    updated_at: Mapped[datetime] = updated_at_column()
