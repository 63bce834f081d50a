"""Marshmallow conventions: unknown fields are rejected, errors name the field, and every
input passes the one input gate (`shared.input_gate`) first. Moments and months are
bounded: nothing CVT keeps predates 1970 or lies in year 3000, and date arithmetic near
datetime's year 9999 limit overflows."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from shared import input_gate
from shared.errors import ValidationFailed

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
# Exclusive: the last moment accepted is in 2999.
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
OUT_OF_TIME = "must be from 1970-01-01 to 2999-12-31 (UTC)"
MAX_OFFSET = 10**9
# An RPC that takes a list of ids takes at most this many in one call; callers batch.
MAX_IDS_PER_CALL = 100
_PERIOD = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


class StrictSchema(Schema):
    """An input shape. `checked_per_item` names top-level lists whose items the handler
    passes through the input gate one by one (a usage batch refuses only its bad events)."""

    checked_per_item: tuple[str, ...] = ()

    class Meta:
        unknown = RAISE
        ordered = True


def within_time(value: datetime) -> bool:
    if value.tzinfo is None:  # a naive moment is read as UTC, as everywhere in the suite
        value = value.replace(tzinfo=UTC)
    return EARLIEST <= value < LATEST


def validate_within_time(value: datetime) -> None:
    if not within_time(value):
        raise ValidationError(OUT_OF_TIME)


def _with_bounds(kwargs: dict[str, Any], bounds: str, **openapi: str) -> dict[str, Any]:
    """The field's keyword arguments, its OpenAPI description saying its bounds."""
    metadata = {**openapi, **(kwargs.get("metadata") or {})}
    given = metadata.get("description")
    metadata["description"] = f"{given} ({bounds})" if given else bounds
    return {**kwargs, "metadata": metadata}


class BoundedDateTime(fields.AwareDateTime):
    """A moment with a UTC offset, from 1970 to 2999."""

    def __init__(self, **kwargs: Any) -> None:
        bounds = "UTC offset required; 1970-01-01 to 2999-12-31"
        super().__init__(**_with_bounds(kwargs, bounds))
        self.validators.insert(0, validate_within_time)


def _validate_period(value: str) -> None:
    found = _PERIOD.fullmatch(value)
    if found is None:
        raise ValidationError("YYYY-MM")
    if not EARLIEST.year <= int(found.group(1)) < LATEST.year:
        raise ValidationError(f"from {EARLIEST.year}-01 to {LATEST.year - 1}-12")


class Month(fields.String):
    """A calendar month, `YYYY-MM`, from 1970-01 to 2999-12."""

    def __init__(self, **kwargs: Any) -> None:
        pattern = f"^{_PERIOD.pattern}$"
        bounds = "1970-01 to 2999-12"
        super().__init__(**_with_bounds(kwargs, bounds, pattern=pattern, example="2026-10"))
        self.validators.insert(0, _validate_period)


class PageQuerySchema(StrictSchema):
    """`?limit=&offset=` of every list endpoint."""

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_OFFSET))


def load(schema: Schema, data: Any) -> dict[str, Any]:
    """Validate `data`; raise `ValidationFailed` naming every field at fault."""
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object", {"_schema": ["not an object"]})
    input_gate.refuse_bad_values(data, getattr(schema, "checked_per_item", ()))
    try:
        loaded = schema.load(data)
    except ValidationError as exc:
        raise ValidationFailed("invalid input", _field_messages(exc.messages)) from exc
    _refuse_moments_out_of_time(schema, loaded)
    return loaded


def _refuse_moments_out_of_time(schema: Schema, loaded: Mapping[str, Any]) -> None:
    """The same bounds for a plain `AwareDateTime` field as for `BoundedDateTime`: a
    service's schema that forgot them still never stores year 300 or year 9999."""
    errors = {
        (schema.fields[name].data_key or name) if name in schema.fields else name: [OUT_OF_TIME]
        for name, value in loaded.items()
        if isinstance(value, datetime) and not within_time(value)
    }
    if errors:
        raise ValidationFailed("invalid input", errors)


def _field_messages(messages: Any) -> dict[str, Any]:
    if isinstance(messages, dict):
        return {str(key): value for key, value in messages.items()}
    return {"_schema": messages}
