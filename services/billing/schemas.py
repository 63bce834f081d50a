"""Billing's input and output shapes."""

from __future__ import annotations

from marshmallow import Schema, fields


class BillingAccountSchema(Schema):
    id = fields.String()
    organization_id = fields.String()
    status = fields.String(metadata={"enum": ["ACTIVE", "OVERDUE", "SUSPENDED"]})
    grace_period_days = fields.Integer()
    balance = fields.Integer(
        metadata={"description": "US cents; positive = credit, negative = owed"}
    )
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
