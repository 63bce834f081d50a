"""What notifications' staff RPCs take and answer: the email log."""

from __future__ import annotations

from datetime import date
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.pagination import PageSchema
from shared.schemas import EARLIEST, LATEST, OUT_OF_TIME, PageQuerySchema

# The values of models.EmailStatus and the names of templates.TEMPLATES, for clients:
# schemas import neither (the gateway imports schemas; tests/test_email_log.py keeps them equal).
STATUSES = ["QUEUED", "SENT", "FAILED"]
TEMPLATE_NAMES = [
    "account-overdue",
    "account-reactivated",
    "account-suspended",
    "credit-issued",
    "invitation",
    "invoice-issued",
    "invoice-voided",
    "password-reset",
    "payment-on-account-receipt",
    "payment-receipt",
    "sign-up-attempted",
    "support-daily-summary",
    "support-reply",
    "support-ticket-assigned",
    "support-ticket-created",
    "support-ticket-reopened",
    "support-ticket-resolved",
    "verify-email",
]


def _within_time(value: date) -> None:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValidationError(OUT_OF_TIME)


class EmailQuerySchema(PageQuerySchema):
    """Staff's filters on the email log (all optional), newest first."""

    recipient = fields.Email(
        validate=validate.Length(max=320),
        metadata={"description": "One of the email's recipients (any case)"},
    )
    template = fields.String(validate=validate.OneOf(TEMPLATE_NAMES))
    status = fields.String(validate=validate.OneOf(STATUSES))
    entity_type = fields.String(
        validate=validate.Length(min=1, max=64), metadata={"example": "Invoice"}
    )
    entity_id = fields.String(validate=validate.Length(min=1, max=64))
    organization_id = fields.String(validate=validate.Length(min=1, max=25))
    request_id = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The request that caused the email, as in the audit trail"},
    )
    from_ = fields.Date(
        data_key="from",
        validate=_within_time,
        metadata={"description": "Queued on or after this day (UTC)"},
    )
    to = fields.Date(
        validate=_within_time, metadata={"description": "Queued on or before this day (UTC)"}
    )

    @validates_schema
    def _from_before_to(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "from_" in data and "to" in data and data["from_"] > data["to"]:
            raise ValidationError("must not be before from", "to")


class EmailLogSchema(Schema):
    """One email as it was (or is being) sent. An emailed link's token never shows: the
    stored parts hold a placeholder where it went, and a resend issues a fresh one."""

    id = fields.String(required=True)
    to = fields.String(required=True, metadata={"description": "The To header as sent"})
    recipients = fields.List(fields.String(), required=True)
    subject = fields.String(required=True)
    template = fields.String(required=True, metadata={"enum": TEMPLATE_NAMES})
    status = fields.String(required=True, metadata={"enum": STATUSES})
    entity_type = fields.String(required=True, allow_none=True)
    entity_id = fields.String(required=True, allow_none=True)
    organization_id = fields.String(required=True, allow_none=True)
    event_id = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The event the email answers; null for a resend"},
    )
    request_id = fields.String(required=True, allow_none=True)
    resent_from_id = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The email this one sends again, if it is a resend"},
    )
    attempts = fields.Integer(required=True)
    error_message = fields.String(
        required=True, allow_none=True, metadata={"description": "Why the last attempt failed"}
    )
    created_at = fields.AwareDateTime(required=True)
    sent_at = fields.AwareDateTime(required=True, allow_none=True)
    failed_at = fields.AwareDateTime(required=True, allow_none=True)
    text = fields.String(
        attribute="text_body",
        required=True,
        allow_none=True,
        metadata={"description": "The plain-text part (get_email only)"},
    )
    html = fields.String(
        attribute="html_body",
        required=True,
        allow_none=True,
        metadata={"description": "The HTML part (get_email only)"},
    )


class ListedEmailSchema(EmailLogSchema):
    """An email in a list: without its parts, which are long (get_email shows them)."""

    class Meta:
        exclude = ("text", "html")


class EmailPageSchema(PageSchema):
    items = fields.List(fields.Nested(ListedEmailSchema), required=True)
