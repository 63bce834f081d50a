"""Payments' shapes."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.schemas import StrictSchema

# The values of the enums in models.py, for clients (schemas import no models).
METHODS = (
    "PAYNOW_ECOCASH",
    "PAYNOW_ONEMONEY",
    "PAYNOW_INNBUCKS",
    "PAYNOW_VISA",
    "PAYNOW_MASTERCARD",
    "BANK_TRANSFER",
    "CASH",
    "CREDIT",
)
STATUSES = ("PENDING", "PAID", "FAILED", "CANCELLED")
MANUAL_METHODS = ("BANK_TRANSFER", "CASH")


class ManualPaymentSchema(StrictSchema):
    invoice_id = fields.String(required=True, validate=validate.Length(min=1, max=25))
    amount = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=100_000_000),
        metadata={"description": "US cents"},
    )
    method = fields.String(required=True, validate=validate.OneOf(MANUAL_METHODS))
    reference = fields.String(
        validate=validate.Length(max=200),
        metadata={"description": "Bank reference or receipt number; unique per payment"},
    )


class PaymentSchema(Schema):
    id = fields.String(required=True)
    billing_account_id = fields.String(required=True)
    invoice_id = fields.String(required=True, allow_none=True)
    amount = fields.Integer(required=True, metadata={"description": "US cents"})
    currency = fields.String(required=True, metadata={"example": "USD"})
    method = fields.String(required=True, metadata={"enum": list(METHODS)})
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    reference = fields.String(
        attribute="external_id",
        required=True,
        allow_none=True,
        metadata={"description": "Bank reference or receipt number, as recorded"},
    )
    initiated_at = fields.AwareDateTime(required=True)
    completed_at = fields.AwareDateTime(required=True, allow_none=True)
