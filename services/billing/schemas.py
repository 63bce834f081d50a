"""Billing's input and output shapes."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.pagination import PageSchema
from shared.schemas import BoundedDateTime, Month, PageQuerySchema, StrictSchema

# Amounts and quantities are PostgreSQL integers (int4, below 2**31): inputs stay far below.
MAX_CENTS = 100_000_000
MAX_QUANTITY = 1_000_000_000
# The values of the enums in models.py, for clients (schemas import no models).
ACCOUNT_STATUSES = ("ACTIVE", "OVERDUE", "SUSPENDED")
SERVICE_TYPES = ("POS_TERMINAL", "POS_MAINTENANCE", "FUTURE_PRODUCT")
SERVICE_STATUSES = ("ACTIVE", "SUSPENDED", "CANCELLED")
INVOICE_STATUSES = ("DRAFT", "ISSUED", "PAID", "PARTIAL", "OVERDUE", "VOID")
RUN_STATUSES = ("QUEUED", "RUNNING", "COMPLETED", "FAILED")
LEDGER_KINDS = ("invoice", "payment", "over_payment", "on_account", "credit", "void")


class BillingAccountSchema(Schema):
    id = fields.String(required=True)
    organization_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": list(ACCOUNT_STATUSES)})
    grace_period_days = fields.Integer(required=True)
    balance = fields.Integer(
        required=True, metadata={"description": "US cents; positive = credit, negative = owed"}
    )
    closed_at = fields.AwareDateTime(
        required=True,
        allow_none=True,
        metadata={"description": "When the organization was deleted; null while open"},
    )
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)


class AccountUpdateSchema(StrictSchema):
    grace_period_days = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=365),
        metadata={"description": "Days past an invoice's due date before suspension"},
    )  # fmt: skip


class ServiceCreateSchema(StrictSchema):
    type = fields.String(required=True, validate=validate.OneOf(SERVICE_TYPES))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    hardware_serial = fields.String(allow_none=True, validate=validate.Length(min=1, max=100))
    monthly_fee = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=MAX_CENTS),
        metadata={"description": "US cents"},
    )  # fmt: skip
    activated_at = BoundedDateTime(metadata={"description": "Default: now"})


class ServiceChangeSchema(StrictSchema):
    at = BoundedDateTime(metadata={"description": "When it takes effect; default: now"})


class ServiceTermsSchema(StrictSchema):
    """New terms of a service, effective from the first day of next month (UTC): the
    current month is still billed at the terms it started with."""

    monthly_fee = fields.Integer(
        strict=True, validate=validate.Range(min=0, max=MAX_CENTS),
        metadata={"description": "US cents"},
    )  # fmt: skip
    name = fields.String(validate=validate.Length(min=1, max=200))

    @validates_schema
    def _at_least_one(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("give monthly_fee, name or both", "_schema")


class ServiceAdminQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(SERVICE_STATUSES))
    serial = fields.String(
        validate=validate.Length(min=1, max=100), metadata={"description": "Hardware serial"}
    )
    organization_id = fields.String(validate=validate.Length(min=1, max=64))


class PendingTermsSchema(Schema):
    monthly_fee = fields.Integer(required=True, metadata={"description": "US cents"})
    name = fields.String(required=True)
    effective_from = fields.AwareDateTime(required=True)


class ServiceSchema(Schema):
    id = fields.String(required=True)
    organization_id = fields.String(required=True)
    type = fields.String(required=True, metadata={"enum": list(SERVICE_TYPES)})
    name = fields.String(required=True)
    hardware_serial = fields.String(required=True, allow_none=True)
    monthly_fee = fields.Integer(required=True, metadata={"description": "US cents"})
    status = fields.String(required=True, metadata={"enum": list(SERVICE_STATUSES)})
    activated_at = fields.AwareDateTime(required=True)
    suspended_at = fields.AwareDateTime(required=True, allow_none=True)
    suspended_with_account = fields.Boolean(
        required=True,
        metadata={"description": "SUSPENDED because the account was: settling the account "
                  "reactivates it. A service staff suspended stays so until staff reactivate it"},
    )  # fmt: skip
    cancelled_at = fields.AwareDateTime(required=True, allow_none=True)
    pending_terms = fields.Nested(
        PendingTermsSchema,
        required=True,
        allow_none=True,
        metadata={"description": "Terms agreed that take effect later; name and "
                  "monthly_fee above are those in force now"},
    )  # fmt: skip


class ServicePageSchema(PageSchema):
    items = fields.List(fields.Nested(ServiceSchema), required=True)


class InvoiceLineItemSchema(Schema):
    id = fields.String(required=True)
    description = fields.String(required=True)
    quantity = fields.Integer(required=True)
    unit_price = fields.Integer(required=True, metadata={"description": "US cents"})
    total = fields.Integer(required=True, metadata={"description": "US cents"})
    service_id = fields.String(
        required=True, allow_none=True, metadata={"description": "null for usage lines"}
    )


class InvoiceSchema(Schema):
    id = fields.String(required=True)
    billing_account_id = fields.String(required=True)
    invoice_number = fields.String(required=True, allow_none=True)
    period_start = fields.AwareDateTime(required=True)
    period_end = fields.AwareDateTime(required=True)
    subtotal = fields.Integer(required=True, metadata={"description": "US cents"})
    tax = fields.Integer(required=True, metadata={"description": "US cents"})
    total = fields.Integer(required=True, metadata={"description": "US cents"})
    amount_paid = fields.Integer(required=True, metadata={"description": "US cents"})
    amount_due = fields.Integer(required=True, metadata={"description": "US cents"})
    status = fields.String(required=True, metadata={"enum": list(INVOICE_STATUSES)})
    issued_at = fields.AwareDateTime(required=True, allow_none=True)
    due_at = fields.AwareDateTime(required=True, allow_none=True)
    paid_at = fields.AwareDateTime(required=True, allow_none=True)
    finalized_at = fields.AwareDateTime(required=True, allow_none=True)


class InvoiceDetailSchema(InvoiceSchema):
    line_items = fields.List(fields.Nested(InvoiceLineItemSchema), required=True)
    payment_token = fields.String(required=True, allow_none=True)
    payment_token_expires_at = fields.AwareDateTime(required=True, allow_none=True)


class InvoiceQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(INVOICE_STATUSES))


class InvoicePageSchema(PageSchema):
    items = fields.List(fields.Nested(InvoiceSchema), required=True)


class InvoiceAdminQuerySchema(InvoiceQuerySchema):
    period = Month(metadata={"description": "The month invoiced"})
    organization_id = fields.String(validate=validate.Length(min=1, max=64))
    overdue = fields.Boolean(
        metadata={"description": "Past its due date with something still due (true), or not"}
    )


class InvoiceAdminSchema(InvoiceSchema):
    organization_id = fields.String(required=True)


class InvoiceAdminPageSchema(PageSchema):
    items = fields.List(fields.Nested(InvoiceAdminSchema), required=True)


class CreditCreateSchema(StrictSchema):
    amount = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_CENTS),
        metadata={"description": "US cents"},
    )  # fmt: skip
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class CreditSchema(Schema):
    id = fields.String(required=True)
    billing_account_id = fields.String(required=True)
    amount = fields.Integer(required=True, metadata={"description": "US cents"})
    reason = fields.String(required=True)
    issued_by_id = fields.String(required=True, allow_none=True)
    created_at = fields.AwareDateTime(required=True)


class CreditPageSchema(PageSchema):
    items = fields.List(fields.Nested(CreditSchema), required=True)


class LedgerQuerySchema(PageQuerySchema):
    pass


class LedgerLineSchema(Schema):
    at = fields.AwareDateTime(required=True)
    kind = fields.String(required=True, metadata={"enum": list(LEDGER_KINDS)})
    amount = fields.Integer(
        required=True,
        metadata={"description": "US cents: negative what the account was charged, positive "
                  "what it received"},
    )  # fmt: skip
    balance_after = fields.Integer(
        required=True, metadata={"description": "US cents: the account's balance after it"}
    )
    invoice_id = fields.String(required=True, allow_none=True)
    invoice_number = fields.String(required=True, allow_none=True)
    payment_id = fields.String(required=True, allow_none=True)
    credit_id = fields.String(required=True, allow_none=True)
    description = fields.String(required=True)


class LedgerPageSchema(PageSchema):
    items = fields.List(
        fields.Nested(LedgerLineSchema),
        required=True,
        metadata={"description": "Oldest first"},
    )


class BillingRunSchema(StrictSchema):
    period = Month(required=True, metadata={"description": "The month to invoice, e.g. 2026-10"})


class OverdueRunSchema(StrictSchema):
    as_of = BoundedDateTime(metadata={"description": "Default: now"})


class BillingRunFailureSchema(Schema):
    billing_account_id = fields.String(required=True)
    organization_id = fields.String(required=True)
    error = fields.String(required=True)


class BillingRunJobSchema(Schema):
    """A billing run: a job over every billing account open in its period."""

    id = fields.String(required=True)
    period = fields.String(required=True, metadata={"description": "The month, e.g. 2026-10"})
    status = fields.String(
        required=True,
        metadata={
            "enum": list(RUN_STATUSES),
            "description": "FAILED: finished, but some accounts could not be invoiced "
            "(see failures; a new run retries them)",
        },
    )
    total = fields.Integer(required=True, metadata={"description": "Billing accounts in the run"})
    done = fields.Integer(required=True, metadata={"description": "Accounts finished"})
    failed = fields.Integer(required=True, metadata={"description": "Accounts that failed"})
    invoiced = fields.Integer(
        required=True, metadata={"description": "Invoices this run finalized"}
    )
    started_by = fields.String(
        required=True, allow_none=True, metadata={"description": "Staff user; null: scheduled"}
    )
    created_at = fields.AwareDateTime(required=True)
    started_at = fields.AwareDateTime(required=True, allow_none=True)
    finished_at = fields.AwareDateTime(required=True, allow_none=True)


class BillingRunDetailSchema(BillingRunJobSchema):
    failures = fields.List(
        fields.Nested(BillingRunFailureSchema),
        required=True,
        metadata={"description": "The accounts that failed, with the error (at most 200)"},
    )


class BillingRunPageSchema(PageSchema):
    items = fields.List(
        fields.Nested(BillingRunJobSchema),
        required=True,
        metadata={"description": "Newest first"},
    )


class OverdueRunRowSchema(Schema):
    organization_id = fields.String(required=True)
    status = fields.String(
        required=True,
        metadata={"enum": list(ACCOUNT_STATUSES), "description": "The account's status now"},
    )


class OverdueRunResultSchema(Schema):
    rows = fields.List(
        fields.Nested(OverdueRunRowSchema),
        required=True,
        metadata={"description": "One per account with an overdue invoice"},
    )


class PriceChangeSchema(StrictSchema):
    included = fields.Integer(
        strict=True, load_default=0, validate=validate.Range(min=0, max=MAX_QUANTITY),
        metadata={"description": "Free quantity per invoice"},
    )  # fmt: skip
    unit_price = fields.Integer(
        strict=True, required=True, validate=validate.Range(min=0, max=MAX_CENTS),
        metadata={"description": "US cents"},
    )  # fmt: skip


class BillingSettingsUpdateSchema(StrictSchema):
    due_days = fields.Integer(
        strict=True, validate=validate.Range(min=0, max=365), data_key="invoice.due_days"
    )
    tax_rate_basis_points = fields.Integer(
        strict=True, validate=validate.Range(min=0, max=10_000),
        data_key="invoice.tax_rate_basis_points",
    )  # fmt: skip
    grace_period_days = fields.Integer(
        strict=True, validate=validate.Range(min=0, max=365),
        data_key="billing_account.grace_period_days",
    )  # fmt: skip
    payment_link_days = fields.Integer(
        strict=True, validate=validate.Range(min=1, max=365), data_key="invoice.payment_link_days"
    )
    prices = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=64)),
        values=fields.Nested(PriceChangeSchema),
        metadata={
            "description": "The whole price table, replacing the one before (a type left "
            "out has no price any more); per event type registered in metering: included "
            "quantity and unit price (cents)"
        },
    )  # fmt: skip


class PriceSchema(Schema):
    included = fields.Integer(required=True, metadata={"description": "Free quantity per invoice"})
    unit_price = fields.Integer(required=True, metadata={"description": "US cents"})


class BillingSettingsSchema(Schema):
    due_days = fields.Integer(required=True, data_key="invoice.due_days")
    tax_rate_basis_points = fields.Integer(required=True, data_key="invoice.tax_rate_basis_points")
    grace_period_days = fields.Integer(required=True, data_key="billing_account.grace_period_days")
    payment_link_days = fields.Integer(required=True, data_key="invoice.payment_link_days")
    prices = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(PriceSchema),
        required=True,
        metadata={"description": "Per event type: included quantity and unit price (cents)"},
    )
