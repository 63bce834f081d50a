"""Shapes the gateway itself answers with (service shapes live in each service's schemas)."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from gateway.audit_trail import MAX_DEPTH
from services.billing.schemas import BillingAccountSchema
from services.identity.schemas import OrganizationSchema
from shared import paynow
from shared.audit import AuditQuerySchema


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"example": "validation_failed"})
    message = fields.String(required=True)
    request_id = fields.String(
        required=True, metadata={"description": "Quote it: every log line of the request has it"}
    )
    field_errors = fields.Dict(
        keys=fields.String(),
        data_key="fields",
        metadata={
            "description": "Messages per field at fault, named by their path "
            "(`events.3.event_data.note`); in a usage batch with no valid event, each event's "
            "errors as `events.<index>.<field>`"
        },
    )


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok"]})


class ReadySchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ready"]})
    services = fields.Dict(
        keys=fields.String(),
        values=fields.String(metadata={"enum": ["ok"]}),
        required=True,
        metadata={"description": "Every service, each `ok` (else the answer is 503)"},
    )
    dead_letters = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={"description": "parked messages per service (python -m ops dead-letters)"},
    )


class StatusSchema(Schema):
    status = fields.String(required=True, metadata={"description": "What happened, in words"})


class OrganizationDetailSchema(OrganizationSchema):
    billing_account = fields.Nested(
        BillingAccountSchema,
        required=True,
        allow_none=True,
        metadata={
            "description": "null for a caller whose role may not view billing (see "
            "/billing-account), until billing has opened the account, and while billing "
            "is not answering"
        },
    )


class PaynowStatusPostSchema(Schema):
    """What Paynow posts to the result URL, url-encoded, as its docs list it (it sends every
    field). Only a hint: payments verifies the hash (and audits a post without a good one,
    so none is refused here for a missing field), then polls Paynow before it changes
    anything."""

    class Meta:
        # Paynow signs every field it sends; one it adds later must not be refused here.
        unknown = EXCLUDE

    reference = fields.String(metadata={"description": "Our reference: the payment id"})
    paynowreference = fields.String(metadata={"description": "Paynow's own reference"})
    amount = fields.String(metadata={"example": "12.34"})
    status = fields.String(
        metadata={"description": "Paynow's status: " + ", ".join(paynow.STATUSES)}
    )
    pollurl = fields.String(metadata={"description": "Where the transaction can be polled"})
    hash = fields.String(
        metadata={"description": "SHA-512 of the values and the integration key, hex"}
    )


class TrailQuerySchema(AuditQuerySchema):
    """The merged trail's filters: every service's (shared.audit), paged no deeper than
    the merge can page (gateway/audit_trail.py)."""

    offset = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_DEPTH - 1),
        metadata={"description": f"offset + limit at most {MAX_DEPTH}: narrow by from/to to "
                  "reach further back"},
    )  # fmt: skip

    @validates_schema
    def _within_depth(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("offset", 0) + data.get("limit", 0) > MAX_DEPTH:
            raise ValidationError(f"offset + limit at most {MAX_DEPTH}", "offset")


class OrganizationTrailQuerySchema(TrailQuerySchema):
    """An organization's trail: the organization is the one in the path."""

    class Meta(TrailQuerySchema.Meta):
        exclude = ("organization_id",)
