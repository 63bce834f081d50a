"""Billing's settings: the scalar ones declared (`DECLARED`), read and changed like every
service's (`shared.settings`, `/v1/admin/settings/billing`), and through billing's own
`/v1/admin/billing-settings` together with the price table.

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
from shared.settings import Declared, Kind, ServiceSettings
from shared.unit_of_work import UnitOfWork

INVOICE_DUE_DAYS = "invoice.due_days"
TAX_RATE_BASIS_POINTS = "invoice.tax_rate_basis_points"
GRACE_PERIOD_DAYS = "billing_account.grace_period_days"
PAYMENT_LINK_DAYS = "invoice.payment_link_days"
PRICE_PREFIX = "price."
PRICES = "prices"

DECLARED = ServiceSettings(
    "billing",
    [
        Declared(
            INVOICE_DUE_DAYS,
            Kind.INTEGER,
            "Days from an invoice's issue to its due date",
            "14",
            minimum=0,
            maximum=365,
        ),
        Declared(
            TAX_RATE_BASIS_POINTS,
            Kind.INTEGER,
            "Tax added to each new invoice's subtotal, in basis points (1550 = 15.5%)",
            "0",
            minimum=0,
            maximum=10_000,
        ),
        Declared(
            GRACE_PERIOD_DAYS,
            Kind.INTEGER,
            "Days past due before an account is suspended, for accounts opened from now on",
            "14",
            minimum=0,
            maximum=365,
        ),
        Declared(
            PAYMENT_LINK_DAYS,
            Kind.INTEGER,
            "Days an invoice's payment link works after issue",
            "60",
            minimum=1,
            maximum=365,
        ),
    ],
)
# What `make seed` writes into the table.
DEFAULTS: dict[str, str] = DECLARED.fixed_defaults()


def int_setting(uow: UnitOfWork, key: str) -> int:
    return int(DECLARED.value(uow, key))


def price_table(uow: UnitOfWork) -> dict[str, dict[str, int]]:
    model = uow.tables.system_setting
    rows = uow.session.execute(
        select(model.key, model.value).where(model.key.startswith(PRICE_PREFIX))
    )
    return {key[len(PRICE_PREFIX) :]: json.loads(value) for key, value in rows}


def all_settings(uow: UnitOfWork) -> dict[str, Any]:
    return {**DECLARED.values(uow), PRICES: price_table(uow)}


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
    """Staff: change settings. The scalar ones are checked and written as every service's
    are (`DECLARED`; null resets one); `prices`, when given, is the whole price table: a
    type left out loses its price, and every type named must be registered in metering
    (`event_types` answers that)."""
    require_staff()
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object", {"_schema": ["not an object"]})
    scalars = {key: value for key, value in data.items() if key != PRICES}
    values = DECLARED.validate(scalars)
    prices = None
    if PRICES in data:
        loaded = load(BillingSettingsUpdateSchema(), {PRICES: data[PRICES]})
        prices = BillingSettingsUpdateSchema().dump(loaded)[PRICES]
    DECLARED.write(uow, values)
    if prices is not None:
        _refuse_unknown_types(prices, event_types)
        _replace_price_table(uow, prices)
    return all_settings(uow)


def _replace_price_table(uow: UnitOfWork, prices: dict[str, Any]) -> None:
    model = uow.tables.system_setting
    old = price_table(uow)
    uow.session.execute(
        delete(model).where(
            model.key.startswith(PRICE_PREFIX),
            model.key.not_in([PRICE_PREFIX + name for name in prices]),
        )
    )
    for name, price in prices.items():
        value = json.dumps(price)
        statement = insert(model).values(id=cuid(), key=PRICE_PREFIX + name, value=value)
        uow.session.execute(
            statement.on_conflict_do_update(index_elements=["key"], set_={"value": value})
        )
    uow.audit(
        "billing.settings_changed",
        "SystemSetting",
        "billing",
        {PRICES: {"old": old, "new": prices}},
    )


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
