"""Support's input and output shapes."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.pagination import PageSchema
from shared.schemas import PageQuerySchema, StrictSchema

# The values of the enums in models.py, for clients (schemas import no models).
STATUSES = ("OPEN", "IN_PROGRESS", "WAITING_ON_CLIENT", "RESOLVED", "CLOSED")
PRIORITIES = ("LOW", "NORMAL", "HIGH", "URGENT")
SOURCES = ("client", "staff", "system")
ABOUT_FIELDS = ("invoice_id", "payment_id", "service_id")
MAX_SUBJECT = 200
MAX_TEXT = 10_000
MAX_QUERY = 200


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be blank")


def _text(maximum: int, **kwargs: Any) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=maximum), _not_blank], **kwargs)


def _id(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=25), **kwargs)


class TicketCreateSchema(StrictSchema):
    subject = _text(MAX_SUBJECT, required=True)
    description = _text(MAX_TEXT, required=True)
    priority = fields.String(load_default="NORMAL", validate=validate.OneOf(PRIORITIES))
    invoice_id = _id(metadata={"description": "An invoice of the organization it is about"})
    payment_id = _id(metadata={"description": "A payment of the organization it is about"})
    service_id = _id(metadata={"description": "A service of the organization it is about"})

    @validates_schema
    def _about_one_thing(self, data: dict[str, Any], **kwargs: Any) -> None:
        given = [name for name in ABOUT_FIELDS if name in data]
        if len(given) > 1:
            raise ValidationError(
                f"at most one of {', '.join(ABOUT_FIELDS)}: the ticket is about one thing",
                given[1],
            )


class TicketSchema(Schema):
    id = fields.String(required=True)
    organization_id = fields.String(required=True)
    subject = fields.String(required=True)
    description = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    priority = fields.String(required=True, metadata={"enum": list(PRIORITIES)})
    assigned_to_id = fields.String(required=True, allow_none=True)
    invoice_id = fields.String(required=True, allow_none=True)
    payment_id = fields.String(required=True, allow_none=True)
    service_id = fields.String(required=True, allow_none=True)
    source = fields.String(required=True, metadata={"enum": list(SOURCES)})
    opened_by_id = fields.String(
        required=True, allow_none=True, metadata={"description": "null: opened by the system"}
    )
    first_response_due_at = fields.AwareDateTime(
        required=True, metadata={"description": "When staff's first public reply is due"}
    )
    first_responded_at = fields.AwareDateTime(required=True, allow_none=True)
    response_breached = fields.Boolean(
        required=True,
        metadata={
            "description": "The first staff reply came, or is still missing, after it was due"
        },
    )
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)
    resolved_at = fields.AwareDateTime(required=True, allow_none=True)


class TicketPageSchema(PageSchema):
    items = fields.List(fields.Nested(TicketSchema), required=True)


class TicketQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    q = fields.String(
        validate=[validate.Length(min=1, max=MAX_QUERY), _not_blank],
        metadata={"description": 'Full-text search (web search syntax: words, "phrases", -not)'},
    )


class StaffTicketQuerySchema(TicketQuerySchema):
    assigned_to_id = _id()
    organization_id = _id()
    breached = fields.Boolean(
        metadata={"description": "true: the first response target is (or was) missed"}
    )


class MessageSchema(Schema):
    id = fields.String(required=True)
    ticket_id = fields.String(required=True)
    sender_id = fields.String(required=True)
    from_staff = fields.Boolean(attribute="sender_is_staff", required=True)
    message = fields.String(required=True)
    is_internal = fields.Boolean(
        required=True, metadata={"description": "An internal note: staff only"}
    )
    created_at = fields.AwareDateTime(required=True)


class MessagePageSchema(PageSchema):
    items = fields.List(fields.Nested(MessageSchema), required=True)


class MessageQuerySchema(PageQuerySchema):
    pass


class ReplySchema(StrictSchema):
    message = _text(MAX_TEXT, required=True)


class StaffMessageSchema(StrictSchema):
    message = _text(MAX_TEXT, required=True)
    internal = fields.Boolean(
        load_default=False, metadata={"description": "true: a note no client ever sees"}
    )
    status = fields.String(
        validate=validate.OneOf(STATUSES),
        metadata={"description": "The ticket's next status (public replies only)"},
    )

    @validates_schema
    def _notes_change_no_status(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("internal") and "status" in data:
            raise ValidationError("an internal note changes no status", "status")


class AssignSchema(StrictSchema):
    assigned_to_id = fields.String(
        required=True,
        allow_none=True,
        validate=validate.Length(min=1, max=25),
        metadata={"description": "A staff user's id; null: unassigned"},
    )


class StatusChangeSchema(StrictSchema):
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))


class TicketUpdateSchema(StrictSchema):
    priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))


class RecipientsSchema(Schema):
    organization_id = fields.String(required=True)
    user_ids = fields.List(fields.String(), required=True)


class OldestTicketSchema(Schema):
    ticket_id = fields.String(required=True)
    subject = fields.String(required=True)
    organization_id = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)


class SupportSummarySchema(Schema):
    open = fields.Integer(required=True, metadata={"description": "Not RESOLVED or CLOSED"})
    breached = fields.Integer(
        required=True, metadata={"description": "Open, and past the first response target"}
    )
    unassigned = fields.Integer(required=True, metadata={"description": "Open, nobody assigned"})
    by_priority = fields.Dict(
        keys=fields.String(), values=fields.Integer(), required=True,
        metadata={"description": "Open tickets per priority"},
    )  # fmt: skip
    oldest = fields.Nested(OldestTicketSchema, required=True, allow_none=True)
    generated_at = fields.AwareDateTime(required=True)
