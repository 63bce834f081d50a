"""Support's settings: response targets per priority and the hour of the daily summary.

Their defaults are the environment's (SUPPORT_RESPONSE_TARGETS, SUPPORT_SUMMARY_HOUR_UTC),
checked when the service starts; staff override them at run time
(`PATCH /v1/admin/settings/support`). A new target applies to tickets opened, or given
another priority, from then on: a ticket's due time is set when it is.
"""

from __future__ import annotations

from services.support import response_targets
from services.support.models import SupportPriority
from services.support.response_targets import ResponseTargets
from shared import config
from shared.settings import Declared, Kind, ServiceSettings
from shared.unit_of_work import UnitOfWork

RESPONSE_TARGET = "response_target."
SUMMARY_HOUR_UTC = "daily_summary.hour_utc"
# Most urgent first, as staff read them.
PRIORITIES = (
    SupportPriority.URGENT,
    SupportPriority.HIGH,
    SupportPriority.NORMAL,
    SupportPriority.LOW,
)


def _target_from_environment(priority: SupportPriority) -> Declared:
    return Declared(
        RESPONSE_TARGET + priority.value,
        Kind.STRING,
        f"Time to a {priority.value} ticket's first staff response: hours (4h) or business "
        "days (1bd, Monday to Friday, UTC), 1 to 9999",
        lambda: str(response_targets.from_settings()[priority]),
        environment=config.SUPPORT_RESPONSE_TARGETS.name,
        pattern=response_targets.TARGET_PATTERN,
    )


DECLARED = ServiceSettings(
    "support",
    [
        *(_target_from_environment(priority) for priority in PRIORITIES),
        Declared(
            SUMMARY_HOUR_UTC,
            Kind.INTEGER,
            "Hour of the day (UTC) after which staff get the daily summary",
            config.SUPPORT_SUMMARY_HOUR_UTC.get,
            environment=config.SUPPORT_SUMMARY_HOUR_UTC.name,
            minimum=0,
            maximum=23,
        ),
    ],
)
# Both come from the environment: nothing for `make seed` to write.
DEFAULTS: dict[str, str] = DECLARED.fixed_defaults()


def current_targets(uow: UnitOfWork) -> ResponseTargets:
    keys = {priority: RESPONSE_TARGET + priority.value for priority in PRIORITIES}
    values = DECLARED.values(uow, keys.values())
    return {
        priority: response_targets.read_target(str(values[key])) for priority, key in keys.items()
    }


def summary_hour(uow: UnitOfWork) -> int:
    return int(DECLARED.value(uow, SUMMARY_HOUR_UTC))
