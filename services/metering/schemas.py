"""Metering's shapes: what terminals report, and what usage reports look like."""

from __future__ import annotations

import json
from datetime import timedelta

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates,
    validates_schema,
)

from shared.clock import utcnow
from shared.schemas import BoundedDateTime, StrictSchema

MAX_BATCH = 1000
MAX_EVENT_DATA_BYTES = 4096
MAX_QUANTITY = 1_000_000
# Terminals go offline and back-fill; older than this is refused (billing closes months).
LATE_WINDOW = timedelta(days=35)
# Clocks drift; beyond this a timestamp in the future is refused.
FUTURE_TOLERANCE = timedelta(minutes=5)
EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"


class UsageEventInSchema(StrictSchema):
    event_type = fields.String(
        required=True,
        validate=validate.Length(max=64),
        metadata={"description": "A registered type, e.g. pos.transaction"},
    )
    quantity = fields.Integer(
        load_default=1, validate=validate.Range(min=1, max=MAX_QUANTITY), strict=True
    )
    timestamp = BoundedDateTime(
        metadata={"description": "When it happened (UTC offset required); default: now"}
    )
    event_data = fields.Dict(allow_none=True, metadata={"description": "Up to 4 KiB of JSON"})
    idempotency_key = fields.String(
        required=True,
        validate=validate.Length(min=1, max=128),
        metadata={"description": "Unique per event; resending it never counts twice"},
    )

    @validates("timestamp")
    def _within_window(self, value, **_: object) -> None:
        now = utcnow()
        if value > now + FUTURE_TOLERANCE:
            raise ValidationError("more than 5 minutes in the future")
        if value < now - LATE_WINDOW:
            raise ValidationError("older than 35 days")

    @validates("event_data")
    def _small_enough(self, value, **_: object) -> None:
        if value is not None and len(json.dumps(value)) > MAX_EVENT_DATA_BYTES:
            raise ValidationError(f"larger than {MAX_EVENT_DATA_BYTES} bytes")


class UsageBatchSchema(StrictSchema):
    """`{"events": [...]}`, or one event object on its own (a batch of one). The gateway
    checks each event on its own (`gateway.usage.accept_usage`), so one bad event does not
    refuse the batch."""

    checked_per_item = ("events",)

    events = fields.List(
        fields.Dict(),
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH),
        metadata={"description": f"1 to {MAX_BATCH} events (each as UsageEventIn)"},
    )

    @pre_load
    def _one_event_is_a_batch(self, data: object, **_: object) -> object:
        if isinstance(data, dict) and "events" not in data and "event_type" in data:
            return {"events": [data]}
        return data


class EventResultSchema(Schema):
    index = fields.Integer()
    status = fields.String(metadata={"enum": ["accepted", "rejected"]})
    idempotency_key = fields.String(allow_none=True)
    errors = fields.Dict()


class UsageAcceptedSchema(Schema):
    accepted = fields.Integer()
    rejected = fields.Integer()
    results = fields.List(fields.Nested(EventResultSchema))


class UsageQuerySchema(StrictSchema):
    from_ = BoundedDateTime(required=True, data_key="from")
    to = BoundedDateTime(required=True)
    group_by = fields.String(
        load_default="event_type",
        validate=validate.OneOf(["day", "event_type", "api_key", "invoice"]),
    )

    @validates_schema
    def _ordered(self, data: dict, **_: object) -> None:
        if "from_" in data and "to" in data:
            if data["to"] <= data["from_"]:
                raise ValidationError("must be after from", "to")
            if data["to"] - data["from_"] > timedelta(days=366):
                raise ValidationError("at most 366 days", "to")


class UsageRowSchema(Schema):
    day = fields.Date(allow_none=True)
    event_type = fields.String(allow_none=True)
    api_key_id = fields.String(allow_none=True)
    invoice_id = fields.String(allow_none=True)
    quantity = fields.Integer()
    events = fields.Integer()


class UsageReportSchema(Schema):
    organization_id = fields.String()
    group_by = fields.String()
    rows = fields.List(fields.Nested(UsageRowSchema))


class EventTypeSchema(StrictSchema):
    name = fields.String(
        required=True,
        validate=[
            validate.Length(max=64),
            validate.Regexp(EVENT_TYPE_PATTERN, error="like pos.transaction"),
        ],
    )
    description = fields.String(required=True, validate=validate.Length(min=1, max=500))
    is_active = fields.Boolean(load_default=True)


class EventTypeUpdateSchema(StrictSchema):
    description = fields.String(validate=validate.Length(min=1, max=500))
    is_active = fields.Boolean()
