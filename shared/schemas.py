"""Marshmallow conventions: unknown fields are rejected, errors name the field."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from shared.errors import ValidationFailed


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE
        ordered = True


class PageQuerySchema(StrictSchema):
    """`?limit=&offset=` of every list endpoint."""

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))


def load(schema: Schema, data: Any) -> dict[str, Any]:
    """Validate `data`; raise `ValidationFailed` naming every field at fault."""
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object", {"_schema": ["not an object"]})
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise ValidationFailed("invalid input", _field_messages(exc.messages)) from exc


def _field_messages(messages: Any) -> dict[str, Any]:
    if isinstance(messages, dict):
        return {str(key): value for key, value in messages.items()}
    return {"_schema": messages}
