"""Metering's shapes: what terminals report, and what usage reports look like."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

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
from shared.pagination import PageSchema
from shared.schemas import BoundedDateTime, StrictSchema, validate_within_time

MAX_BATCH = 1000
MAX_EVENT_DATA_BYTES = 4096
MAX_QUANTITY = 1_000_000
# Terminals go offline and back-fill; older than this is refused (billing closes months).
LATE_WINDOW = timedelta(days=35)
# Clocks drift; beyond this a timestamp in the future is refused.
FUTURE_TOLERANCE = timedelta(minutes=5)
EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
GROUPINGS = ("day", "event_type", "api_key", "invoice")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


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


class UsageEventsSchema(StrictSchema):
    """A batch as clients send it: `{"events": [UsageEventIn, ...]}`."""

    events = fields.List(
        fields.Nested(UsageEventInSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH),
    )


class UsageBatchSchema(StrictSchema):
    """`{"events": [...]}`, or one event object on its own (a batch of one). The gateway
    checks each event on its own (`gateway.usage.accept_usage`), so one bad event, even
    one that is no object, does not refuse the batch; this schema checks the envelope
    only, and OpenAPI shows the body as what it is: one of `one_of`."""

    checked_per_item = ("events",)
    one_of = (UsageEventInSchema, UsageEventsSchema)

    events = fields.List(
        fields.Raw(), required=True, validate=validate.Length(min=1, max=MAX_BATCH)
    )

    @pre_load
    def _one_event_is_a_batch(self, data: object, **_: object) -> object:
        if isinstance(data, dict) and "events" not in data and "event_type" in data:
            return {"events": [data]}
        return data


class EventResultSchema(Schema):
    index = fields.Integer(
        required=True, metadata={"description": "The event's place in the batch"}
    )
    status = fields.String(required=True, metadata={"enum": ["accepted", "rejected"]})
    idempotency_key = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The event's, as sent; null if it sent none that is text"},
    )
    errors = fields.Dict(
        keys=fields.String(),
        metadata={"description": "Rejected events only: messages per field at fault"},
    )


class UsageAcceptedSchema(Schema):
    accepted = fields.Integer(required=True)
    rejected = fields.Integer(required=True)
    results = fields.List(
        fields.Nested(EventResultSchema), required=True, metadata={"description": "One per event"}
    )


class DayOrMoment(fields.Field):
    """A day, `2026-11-01` (its first moment, UTC), or a moment with a UTC offset; from
    1970 to 2999, like every moment."""

    default_error_messages = {
        "invalid": "a day (YYYY-MM-DD) or a moment with a UTC offset (ISO 8601)"
    }

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "anyOf": [
                {"type": "string", "format": "date"},
                {"type": "string", "format": "date-time"},
            ],
            **kwargs.pop("metadata", {}),
        }
        super().__init__(metadata=metadata, **kwargs)
        self.validators.insert(0, validate_within_time)
        self._moment = fields.AwareDateTime()

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if isinstance(value, str) and _DAY.fullmatch(value):
            value = f"{value}T00:00:00+00:00"
        try:
            return self._moment.deserialize(value)
        except ValidationError as exc:
            raise self.make_error("invalid") from exc


class UsageQuerySchema(StrictSchema):
    from_ = DayOrMoment(
        required=True,
        data_key="from",
        metadata={"description": "Start, inclusive: a day (UTC) or a moment with its offset"},
    )
    to = DayOrMoment(
        required=True,
        metadata={
            "description": "End, exclusive: a day (UTC) or a moment; `from=2026-11-01&"
            "to=2026-12-01` is November; at most 366 days after `from`"
        },
    )
    group_by = fields.String(load_default="event_type", validate=validate.OneOf(GROUPINGS))

    @validates_schema
    def _ordered(self, data: dict, **_: object) -> None:
        if "from_" in data and "to" in data:
            if data["to"] <= data["from_"]:
                raise ValidationError("must be after from", "to")
            if data["to"] - data["from_"] > timedelta(days=366):
                raise ValidationError("at most 366 days", "to")


class UsageRowSchema(Schema):
    """One row per value of the grouping: only the field it groups by is sent (`invoice`
    rows also name their event type)."""

    day = fields.Date(metadata={"description": "Grouped by day (UTC)"})
    event_type = fields.String(metadata={"description": "Grouped by event type, or by invoice"})
    api_key_id = fields.String(
        allow_none=True,
        metadata={"description": "Grouped by API key; null for usage recorded without a key"},
    )
    invoice_id = fields.String(
        allow_none=True,
        metadata={"description": "Grouped by invoice; null for usage not billed yet"},
    )
    quantity = fields.Integer(required=True)
    events = fields.Integer(required=True)


class UsageReportSchema(Schema):
    organization_id = fields.String(required=True)
    group_by = fields.String(required=True, metadata={"enum": list(GROUPINGS)})
    rows = fields.List(fields.Nested(UsageRowSchema), required=True)


class EventTypeCreateSchema(StrictSchema):
    name = fields.String(
        required=True,
        validate=[
            validate.Length(max=64),
            validate.Regexp(EVENT_TYPE_PATTERN, error="like pos.transaction"),
        ],
    )
    description = fields.String(required=True, validate=validate.Length(min=1, max=500))
    is_active = fields.Boolean(load_default=True)


class EventTypeSchema(Schema):
    name = fields.String(required=True)
    description = fields.String(required=True)
    is_active = fields.Boolean(
        required=True, metadata={"description": "Terminals may report it (else retired)"}
    )


class EventTypePageSchema(PageSchema):
    items = fields.List(fields.Nested(EventTypeSchema), required=True)


class EventTypeUpdateSchema(StrictSchema):
    description = fields.String(validate=validate.Length(min=1, max=500))
    is_active = fields.Boolean()
