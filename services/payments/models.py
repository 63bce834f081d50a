"""Payments' tables (seed: Payment). `billing_account_id` and `invoice_id` point into
billing, another service, so they are plain columns. `amount` is in cents."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import String
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


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[str] = id_column()
    billing_account_id: Mapped[str] = mapped_column(String(CUID_LENGTH), index=True)
    invoice_id: Mapped[str | None] = mapped_column(String(CUID_LENGTH), index=True)
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    method: Mapped[PaymentMethod] = mapped_column(enum_type(PaymentMethod))
    status: Mapped[PaymentStatus] = mapped_column(
        enum_type(PaymentStatus),
        default=PaymentStatus.PENDING,
        server_default=PaymentStatus.PENDING.value,
        index=True,
    )
    external_id: Mapped[str | None] = mapped_column(index=True)
    external_status: Mapped[str | None]
    initiated_at: Mapped[datetime] = defaults_to_now()
    completed_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    error_message: Mapped[str | None]
    created_at: Mapped[datetime] = defaults_to_now()
    updated_at: Mapped[datetime] = updated_at_column()
