"""Billing's settings and their defaults; staff edit them through the admin API.

The price table lives here too: one setting per metered event type,
`price.<event type>` = `{"included": <free quantity per invoice>, "unit_price": <cents>}`.
Usage of a type without a price is recorded on the invoice's usage report but not charged.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.billing.schemas import BillingSettingsUpdateSchema
from shared.authorization import require_staff
from shared.ids import cuid
from shared.schemas import load
from shared.settings import get_setting
from shared.unit_of_work import UnitOfWork

INVOICE_DUE_DAYS = "invoice.due_days"
TAX_RATE_BASIS_POINTS = "invoice.tax_rate_basis_points"
GRACE_PERIOD_DAYS = "billing_account.grace_period_days"
PAYMENT_LINK_DAYS = "invoice.payment_link_days"
PRICE_PREFIX = "price."

DEFAULTS: dict[str, str] = {
    INVOICE_DUE_DAYS: "14",
    TAX_RATE_BASIS_POINTS: "0",
    GRACE_PERIOD_DAYS: "14",
    PAYMENT_LINK_DAYS: "60",
}


def int_setting(uow: UnitOfWork, key: str) -> int:
    return int(get_setting(uow, key, DEFAULTS[key]))


def price_table(uow: UnitOfWork) -> dict[str, dict[str, int]]:
    model = uow.tables.system_setting
    rows = uow.session.execute(
        select(model.key, model.value).where(model.key.startswith(PRICE_PREFIX))
    )
    return {key[len(PRICE_PREFIX) :]: json.loads(value) for key, value in rows}


def all_settings(uow: UnitOfWork) -> dict[str, Any]:
    values = {key: int_setting(uow, key) for key in DEFAULTS}
    return {**values, "prices": price_table(uow)}


def update_settings(uow: UnitOfWork, data: dict[str, Any]) -> dict[str, Any]:
    """Staff: change settings and prices."""
    require_staff()
    fields = BillingSettingsUpdateSchema().dump(load(BillingSettingsUpdateSchema(), data))
    prices = fields.pop("prices", {})
    model = uow.tables.system_setting
    values = {key: str(value) for key, value in fields.items()}
    values |= {PRICE_PREFIX + name: json.dumps(price) for name, price in prices.items()}
    for key, value in values.items():
        statement = insert(model).values(id=cuid(), key=key, value=value)
        uow.session.execute(
            statement.on_conflict_do_update(index_elements=["key"], set_={"value": value})
        )
    uow.audit("billing.settings_changed", "SystemSetting", "billing", values)
    return all_settings(uow)
