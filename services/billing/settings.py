"""Billing's settings and their defaults; staff edit them through the admin API.

The price table lives here too: one setting per metered event type,
`price.<event type>` = `{"included": <free quantity per invoice>, "unit_price": <cents>}`.
Usage of a type without a price is recorded on the invoice's usage report but not charged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from services.billing.schemas import BillingSettingsUpdateSchema
from shared.authorization import require_staff
from shared.errors import ValidationFailed
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


EventTypes = Callable[[], set[str]]
"""The event types metering has registered (see `registered_event_types`)."""

# list_event_types pages at most this many.
EVENT_TYPE_PAGE = 200


def registered_event_types(list_page: Callable[[dict[str, Any]], dict[str, Any]]) -> set[str]:
    """Every event type metering knows, active or not (usage of a type switched off may
    still wait to be billed), from `list_page(query)`: metering's `list_event_types`."""
    names: set[str] = set()
    offset = 0
    while True:
        page = list_page({"limit": EVENT_TYPE_PAGE, "offset": offset})
        names |= {item["name"] for item in page["items"]}
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return names


def update_settings(
    uow: UnitOfWork, data: dict[str, Any], event_types: EventTypes | None = None
) -> dict[str, Any]:
    """Staff: change settings. `prices`, when given, is the whole price table: a type
    left out loses its price, and every type named must be registered in metering
    (`event_types` answers that)."""
    require_staff()
    fields = BillingSettingsUpdateSchema().dump(load(BillingSettingsUpdateSchema(), data))
    prices = fields.pop("prices", None)
    model = uow.tables.system_setting
    values = {key: str(value) for key, value in fields.items()}
    metadata: dict[str, Any] = dict(values)
    if prices is not None:
        _refuse_unknown_types(prices, event_types)
        old = price_table(uow)
        uow.session.execute(
            delete(model).where(
                model.key.startswith(PRICE_PREFIX),
                model.key.not_in([PRICE_PREFIX + name for name in prices]),
            )
        )
        values |= {PRICE_PREFIX + name: json.dumps(price) for name, price in prices.items()}
        metadata["prices"] = {"old": old, "new": prices}
    for key, value in values.items():
        statement = insert(model).values(id=cuid(), key=key, value=value)
        uow.session.execute(
            statement.on_conflict_do_update(index_elements=["key"], set_={"value": value})
        )
    uow.audit("billing.settings_changed", "SystemSetting", "billing", metadata)
    return all_settings(uow)


def _refuse_unknown_types(prices: dict[str, Any], event_types: EventTypes | None) -> None:
    if not prices:
        return
    if event_types is None:
        raise TypeError("prices are checked against metering's event types")
    known = event_types()
    unknown = sorted(set(prices) - known)
    if unknown:
        raise ValidationFailed(
            "no such event type in metering",
            {f"prices.{name}": ["not a registered event type"] for name in unknown},
        )
