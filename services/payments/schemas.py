"""Payments' shapes."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.pagination import PageSchema
from shared.schemas import EARLIEST, LATEST, OUT_OF_TIME, PageQuerySchema, StrictSchema

MAX_CENTS = 100_000_000
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
# What a payer chooses: mobile money is Paynow's express checkout (approved on the phone),
# cards go to Paynow's own page (web checkout).
EXPRESS_METHODS = ("ecocash", "onemoney", "innbucks")
WEB_METHODS = ("visa", "mastercard")
CHECKOUT_METHODS = EXPRESS_METHODS + WEB_METHODS
LINK_STATES = ("payable", "paid", "void", "expired")
PAYNOW_STATUSES = (
    "Created",
    "Sent",
    "Paid",
    "Awaiting Delivery",
    "Delivered",
    "Cancelled",
    "Failed",
    "Disputed",
    "Refunded",
)

# Zimbabwe's mobile networks: 071 NetOne, 073 Telecel, 077 and 078 Econet.
_MOBILE = re.compile(r"(?:\+?263|0)(7[1378][0-9]{7})")
_PHONE_SEPARATORS = re.compile(r"[\s\-()]")
PHONE_HELP = "a Zimbabwe mobile number, e.g. 0771111111 or +263771111111"


def local_phone(text: str) -> str | None:
    """0771111111 however written (+263 77 111 1111, 263771111111), or None."""
    found = _MOBILE.fullmatch(_PHONE_SEPARATORS.sub("", text))
    return "0" + found.group(1) if found else None


def _cents(description: str = "US cents", **kwargs: Any) -> fields.Integer:
    return fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=MAX_CENTS),
        metadata={"description": description},
        **kwargs,
    )


class ManualPaymentSchema(StrictSchema):
    invoice_id = fields.String(
        validate=validate.Length(min=1, max=25),
        metadata={"description": "The invoice paid; or give on_account: true instead"},
    )
    on_account = fields.Boolean(
        metadata={"description": "true: no invoice; the payment becomes account credit"}
    )
    amount = _cents(required=True)
    method = fields.String(required=True, validate=validate.OneOf(MANUAL_METHODS))
    reference = fields.String(
        validate=validate.Length(max=200),
        metadata={"description": "Bank reference or receipt number; unique per account"},
    )

    @validates_schema
    def _invoice_or_on_account(self, data: dict[str, Any], **kwargs: Any) -> None:
        on_account = data.get("on_account") is True
        if on_account and "invoice_id" in data:
            raise ValidationError("give invoice_id or on_account: true, not both", "on_account")
        if not on_account and "invoice_id" not in data:
            raise ValidationError(
                "required, unless the payment is on account (on_account: true)", "invoice_id"
            )


class CheckoutSchema(StrictSchema):
    method = fields.String(
        required=True,
        validate=validate.OneOf(CHECKOUT_METHODS),
        metadata={
            "description": "ecocash, onemoney, innbucks: approved on the phone (phone "
            "required); visa, mastercard: on Paynow's page (browser_url)"
        },
    )
    phone = fields.String(validate=validate.Length(max=32), metadata={"description": PHONE_HELP})
    amount = _cents("US cents, at most the amount due; default: all of it")
    email = fields.Email(
        validate=validate.Length(max=254),
        metadata={"description": "The payer's email, for Paynow"},
    )

    @validates_schema
    def _phone_for_mobile_money_only(self, data: dict[str, Any], **kwargs: Any) -> None:
        method, phone = data.get("method"), data.get("phone")
        if method in WEB_METHODS and phone is not None:
            raise ValidationError("not with a card: the card is paid on Paynow's page", "phone")
        if method in EXPRESS_METHODS:
            if phone is None:
                raise ValidationError(f"required for {method}: {PHONE_HELP}", "phone")
            if local_phone(phone) is None:
                raise ValidationError(PHONE_HELP, "phone")


class PaymentSchema(Schema):
    id = fields.String(required=True)
    organization_id = fields.String(required=True, allow_none=True)
    billing_account_id = fields.String(required=True)
    invoice_id = fields.String(
        required=True, allow_none=True, metadata={"description": "null: paid on account"}
    )
    invoice_number = fields.String(required=True, allow_none=True)
    amount = fields.Integer(required=True, metadata={"description": "US cents"})
    currency = fields.String(required=True, metadata={"example": "USD"})
    method = fields.String(required=True, metadata={"enum": list(METHODS)})
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    reference = fields.String(
        attribute="external_id",
        required=True,
        allow_none=True,
        metadata={"description": "Paynow's reference, or the bank reference as recorded"},
    )
    paynow_status = fields.String(
        attribute="external_status",
        required=True,
        allow_none=True,
        metadata={"description": "Paynow's own status, e.g. Disputed or Refunded"},
    )
    error_message = fields.String(required=True, allow_none=True)
    initiated_at = fields.AwareDateTime(required=True)
    completed_at = fields.AwareDateTime(required=True, allow_none=True)
    failed_at = fields.AwareDateTime(required=True, allow_none=True)


class PaymentPageSchema(PageSchema):
    items = fields.List(fields.Nested(PaymentSchema), required=True)


class CheckoutPaymentSchema(Schema):
    """A payment as its payer sees it (never the poll URL)."""

    id = fields.String(required=True)
    invoice_id = fields.String(required=True, allow_none=True)
    invoice_number = fields.String(required=True, allow_none=True)
    amount = fields.Integer(required=True, metadata={"description": "US cents"})
    currency = fields.String(required=True, metadata={"example": "USD"})
    method = fields.String(required=True, metadata={"enum": list(METHODS)})
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    paynow_status = fields.String(attribute="external_status", required=True, allow_none=True)
    error_message = fields.String(
        required=True, allow_none=True, metadata={"description": "Why it failed, to show"}
    )
    browser_url = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Web checkout: send the payer here to pay"},
    )
    instructions = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Mobile money: what the payer does on their phone"},
    )
    authorization_code = fields.String(
        required=True, allow_none=True, metadata={"description": "InnBucks: the code to enter"}
    )
    initiated_at = fields.AwareDateTime(required=True)
    completed_at = fields.AwareDateTime(required=True, allow_none=True)


class CheckoutResultSchema(Schema):
    created = fields.Boolean(
        required=True,
        metadata={"description": "false: a live attempt existed, and it is this one"},
    )
    payment = fields.Nested(CheckoutPaymentSchema, required=True)


class LinkLineItemSchema(Schema):
    description = fields.String(required=True)
    quantity = fields.Integer(required=True)
    unit_price = fields.Integer(required=True, metadata={"description": "US cents"})
    total = fields.Integer(required=True, metadata={"description": "US cents"})


class LinkInvoiceSchema(Schema):
    """What a payment link shows of its invoice (billing's invoice, less the internals)."""

    id = fields.String(required=True)
    invoice_number = fields.String(required=True, allow_none=True)
    period_start = fields.AwareDateTime(required=True)
    period_end = fields.AwareDateTime(required=True)
    issued_at = fields.AwareDateTime(required=True, allow_none=True)
    due_at = fields.AwareDateTime(required=True, allow_none=True)
    total = fields.Integer(required=True, metadata={"description": "US cents"})
    amount_paid = fields.Integer(required=True, metadata={"description": "US cents"})
    amount_due = fields.Integer(required=True, metadata={"description": "US cents"})
    status = fields.String(required=True)
    line_items = fields.List(fields.Nested(LinkLineItemSchema), required=True)


class PaymentLinkSchema(Schema):
    state = fields.String(required=True, metadata={"enum": list(LINK_STATES)})
    invoice = fields.Nested(LinkInvoiceSchema, required=True)
    live_payment = fields.Nested(
        CheckoutPaymentSchema,
        required=True,
        allow_none=True,
        metadata={"description": "The attempt in progress, if any"},
    )


class StatusPostResultSchema(Schema):
    accepted = fields.Boolean(
        required=True, metadata={"description": "false: the reference is not a payment of ours"}
    )
    status = fields.String(metadata={"enum": list(STATUSES)})


def _within_time(value: date) -> None:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValidationError(OUT_OF_TIME)


class PaymentQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    method = fields.String(validate=validate.OneOf(METHODS))
    invoice_id = fields.String(validate=validate.Length(min=1, max=25))
    paynow_status = fields.String(validate=validate.OneOf(PAYNOW_STATUSES))
    from_ = fields.Date(
        data_key="from",
        validate=_within_time,
        metadata={"description": "Initiated on or after this day (UTC)"},
    )
    to = fields.Date(
        validate=_within_time, metadata={"description": "Initiated on or before this day (UTC)"}
    )

    @validates_schema
    def _from_before_to(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "from_" in data and "to" in data and data["from_"] > data["to"]:
            raise ValidationError("must not be before from", "to")


class AllPaymentsQuerySchema(PaymentQuerySchema):
    organization_id = fields.String(validate=validate.Length(min=1, max=25))
