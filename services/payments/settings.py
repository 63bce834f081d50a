"""Payments' settings: how long a Paynow attempt may stay pending.

The default is the environment's (PAYNOW_PAYMENT_EXPIRY_MINUTES), checked when the service
starts; staff override it at run time (`PATCH /v1/admin/settings/payments`), and the poller's next
pass uses the new value.
"""

from __future__ import annotations

from datetime import timedelta

from shared import config
from shared.settings import Declared, Kind, ServiceSettings
from shared.unit_of_work import UnitOfWork

PAYMENT_EXPIRY_MINUTES = "paynow.payment_expiry_minutes"
# A week: an attempt nobody finished is long abandoned by then.
MAX_EXPIRY_MINUTES = 7 * 24 * 60

DECLARED = ServiceSettings(
    "payments",
    [
        Declared(
            PAYMENT_EXPIRY_MINUTES,
            Kind.INTEGER,
            "Minutes after which a Paynow payment still pending is cancelled as expired "
            "(money Paynow confirms later still counts)",
            config.PAYNOW_PAYMENT_EXPIRY_MINUTES.get,
            environment=config.PAYNOW_PAYMENT_EXPIRY_MINUTES.name,
            minimum=1,
            maximum=MAX_EXPIRY_MINUTES,
        ),
    ],
)
# From the environment: nothing for `make seed` to write.
DEFAULTS: dict[str, str] = DECLARED.fixed_defaults()


def payment_expiry(uow: UnitOfWork) -> timedelta:
    return timedelta(minutes=int(DECLARED.value(uow, PAYMENT_EXPIRY_MINUTES)))
