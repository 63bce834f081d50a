"""Support's settings: response targets and the summary hour, the environment's until staff
set them, read by the service each time it needs them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from services.support import response_targets, settings
from services.support.models import SupportPriority
from services.support.response_targets import Target
from shared import config
from shared.errors import ValidationFailed

URGENT = settings.RESPONSE_TARGET + "URGENT"


@pytest.fixture
def support(unit_of_work: Any, as_user: Any) -> Iterator[Any]:
    """Support's unit of work; every setting back to its default afterwards."""
    yield unit_of_work
    with as_user(is_staff=True), unit_of_work("support") as uow:
        settings.DECLARED.change(uow, dict.fromkeys(settings.DECLARED.declared))


def test_the_environment_gives_the_defaults(support: Any) -> None:
    with support("support") as uow:
        assert settings.current_targets(uow) == response_targets.from_settings()
        assert settings.summary_hour(uow) == int(config.SUPPORT_SUMMARY_HOUR_UTC.get())


def test_staff_s_targets_and_hour_are_what_the_service_reads(support: Any, as_user: Any) -> None:
    with as_user(is_staff=True), support("support") as uow:
        settings.DECLARED.change(uow, {URGENT: "2bd", settings.SUMMARY_HOUR_UTC: 23})
    with support("support") as uow:
        targets = settings.current_targets(uow)
        hour = settings.summary_hour(uow)
    environment = response_targets.from_settings()
    assert targets[SupportPriority.URGENT] == Target(2, business_days=True)
    assert {p: t for p, t in targets.items() if p != SupportPriority.URGENT} == {
        p: t for p, t in environment.items() if p != SupportPriority.URGENT
    }
    assert hour == 23


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({URGENT: "2d"}, URGENT),
        ({URGENT: "0h"}, URGENT),
        ({settings.RESPONSE_TARGET + "MEDIUM": "1h"}, settings.RESPONSE_TARGET + "MEDIUM"),
        ({settings.SUMMARY_HOUR_UTC: 24}, settings.SUMMARY_HOUR_UTC),
    ],
)
def test_a_bad_target_or_hour_is_refused_naming_it(
    support: Any, as_user: Any, change: dict[str, Any], key: str
) -> None:
    with (
        as_user(is_staff=True),
        pytest.raises(ValidationFailed) as refused,
        support("support") as uow,
    ):
        settings.DECLARED.change(uow, change)
    assert list(refused.value.fields) == [key]
