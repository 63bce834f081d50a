"""Payments' shapes."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.schemas import StrictSchema

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
    id = fields.String()
    billing_account_id = fields.String()
    invoice_id = fields.String(allow_none=True)
    amount = fields.Integer()
    currency = fields.String()
    method = fields.String()
    status = fields.String()
    external_id = fields.String(allow_none=True)
    initiated_at = fields.AwareDateTime()
    completed_at = fields.AwareDateTime(allow_none=True)
