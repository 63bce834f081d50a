"""When a ticket's first staff response is due: SUPPORT_RESPONSE_TARGETS, e.g.
"URGENT=1h,HIGH=4h,NORMAL=1bd,LOW=3bd". Hours are clock hours, weekends included; business
days (bd) are Monday to Friday, UTC: a ticket opened on Friday at 15:00 with 1bd is due on
Monday at 15:00, and one opened at the weekend counts from Monday 00:00.

The environment gives the defaults, checked when the service starts (a bad value stops it
with a message naming the variable, rather than failing on the first ticket); staff change
each priority's target at run time (`services.support.settings`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.support.models import SupportPriority
from shared import config

TARGET_PATTERN = r"^([1-9][0-9]{0,3})(h|bd)$"
_TARGET = re.compile(TARGET_PATTERN)
SATURDAY = 5


@dataclass(frozen=True)
class Target:
    amount: int
    business_days: bool  # else hours

    def __str__(self) -> str:
        return f"{self.amount}{'bd' if self.business_days else 'h'}"


ResponseTargets = Mapping[SupportPriority, Target]


class BadTargets(ValueError):
    """SUPPORT_RESPONSE_TARGETS cannot be read."""


def read_target(text: str) -> Target:
    """`<n>h` or `<n>bd`; ValueError otherwise."""
    found = _TARGET.fullmatch(text)
    if found is None:
        raise ValueError(f"{text!r}: expected hours (e.g. 4h) or business days (e.g. 1bd)")
    return Target(int(found.group(1)), found.group(2) == "bd")


def parse(text: str) -> dict[SupportPriority, Target]:
    """Every priority once, each `<n>h` or `<n>bd` (n from 1 to 9999)."""
    name = config.SUPPORT_RESPONSE_TARGETS.name
    targets: dict[SupportPriority, Target] = {}
    for part in text.split(","):
        priority, sep, value = (piece.strip() for piece in part.partition("="))
        if not sep:
            raise BadTargets(f"{name}: {part.strip()!r} is not PRIORITY=<n>h or PRIORITY=<n>bd")
        if priority not in SupportPriority.__members__:
            known = ", ".join(SupportPriority)
            raise BadTargets(f"{name}: unknown priority {priority!r} (known: {known})")
        if SupportPriority(priority) in targets:
            raise BadTargets(f"{name}: {priority} is given twice")
        try:
            targets[SupportPriority(priority)] = read_target(value)
        except ValueError:
            raise BadTargets(
                f"{name}: {priority}={value!r}: expected hours (e.g. 4h) or business days "
                "(e.g. 1bd), from 1 to 9999"
            ) from None
    missing = [priority.value for priority in SupportPriority if priority not in targets]
    if missing:
        raise BadTargets(f"{name}: no target for {', '.join(missing)}")
    return targets


def from_settings() -> dict[SupportPriority, Target]:
    """The targets the environment gives: the settings' defaults."""
    return parse(config.SUPPORT_RESPONSE_TARGETS.get())


def _is_weekend(moment: datetime) -> bool:
    return moment.weekday() >= SATURDAY


def add_business_days(start: datetime, days: int) -> datetime:
    moment = start.astimezone(UTC)
    if _is_weekend(moment):
        moment = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        while _is_weekend(moment):
            moment += timedelta(days=1)
    for _ in range(days):
        moment += timedelta(days=1)
        while _is_weekend(moment):
            moment += timedelta(days=1)
    return moment


def first_response_due(
    created_at: datetime, priority: SupportPriority | str, targets: ResponseTargets
) -> datetime:
    """When staff's first public reply to a ticket opened at `created_at` is due."""
    target = targets[SupportPriority(priority)]
    if target.business_days:
        return add_business_days(created_at, target.amount)
    return created_at.astimezone(UTC) + timedelta(hours=target.amount)
