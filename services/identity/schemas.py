"""Identity's input and output shapes (used by the service and by the gateway's OpenAPI)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.schemas import StrictSchema

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"


class OrganizationCreateSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    slug = fields.String(
        validate=validate.Regexp(SLUG_PATTERN, error="lowercase letters, digits and dashes"),
        metadata={"description": "URL name; derived from the name when omitted"},
    )
    email = fields.Email(required=True, metadata={"description": "Primary contact email"})
    phone = fields.String(allow_none=True, validate=validate.Length(max=40))
    address = fields.String(allow_none=True, validate=validate.Length(max=500))
    city = fields.String(allow_none=True, validate=validate.Length(max=100))
    country = fields.String(validate=validate.Length(min=1, max=100))


class OrganizationSchema(Schema):
    id = fields.String()
    name = fields.String()
    slug = fields.String()
    email = fields.String()
    phone = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    country = fields.String()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
