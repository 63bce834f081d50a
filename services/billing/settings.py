"""Billing's settings and their defaults (editable by staff once the billing issue lands)."""

from __future__ import annotations

INVOICE_DUE_DAYS = "invoice.due_days"
TAX_RATE_BASIS_POINTS = "invoice.tax_rate_basis_points"
GRACE_PERIOD_DAYS = "billing_account.grace_period_days"

DEFAULTS: dict[str, str] = {
    INVOICE_DUE_DAYS: "14",
    TAX_RATE_BASIS_POINTS: "0",
    GRACE_PERIOD_DAYS: "14",
}
