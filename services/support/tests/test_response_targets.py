"""Response targets: the setting read strictly, and due times counted in clock hours or in
business days (Monday to Friday, UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.support.models import SupportPriority
from services.support.response_targets import (
    BadTargets,
    Target,
    first_response_due,
    parse,
)
from services.support.settings import DECLARED
from services.support.tests.conftest import TARGETS

# 2026-11-27 is a Friday.
FRIDAY = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def test_the_default_setting_reads_as_documented() -> None:
    assert parse("URGENT=1h,HIGH=4h,NORMAL=1bd,LOW=3bd") == {
        SupportPriority.URGENT: Target(1, business_days=False),
        SupportPriority.HIGH: Target(4, business_days=False),
        SupportPriority.NORMAL: Target(1, business_days=True),
        SupportPriority.LOW: Target(3, business_days=True),
    }
    assert parse(" LOW = 2bd , NORMAL=8h,HIGH=2h,URGENT=1h")[SupportPriority.LOW] == Target(
        2, business_days=True
    )


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("URGENT=1h,HIGH=4h,NORMAL=1bd", "no target for LOW"),
        ("URGENT=1h,HIGH=4h,NORMAL=1bd,LOW=3bd,MEDIUM=1bd", "unknown priority 'MEDIUM'"),
        ("URGENT=1h,URGENT=2h,HIGH=4h,NORMAL=1bd,LOW=3bd", "URGENT is given twice"),
        ("URGENT=1d,HIGH=4h,NORMAL=1bd,LOW=3bd", "URGENT='1d'"),
        ("URGENT=0h,HIGH=4h,NORMAL=1bd,LOW=3bd", "URGENT='0h'"),
        ("URGENT,HIGH=4h,NORMAL=1bd,LOW=3bd", "'URGENT' is not PRIORITY="),
        ("", "is not PRIORITY="),
    ],
)
def test_a_bad_setting_is_refused_naming_it(text: str, complaint: str) -> None:
    with pytest.raises(BadTargets) as refused:
        parse(text)
    assert str(refused.value).startswith("SUPPORT_RESPONSE_TARGETS: ")
    assert complaint in str(refused.value)


@pytest.mark.parametrize(
    ("created_at", "priority", "due"),
    [
        # Hours are clock hours, weekend or not.
        (FRIDAY, "URGENT", FRIDAY + timedelta(hours=1)),
        (FRIDAY.replace(hour=23), "HIGH", datetime(2026, 11, 28, 3, 0, tzinfo=UTC)),
        # A business day from Friday afternoon is Monday afternoon.
        (FRIDAY, "NORMAL", datetime(2026, 11, 30, 15, 0, tzinfo=UTC)),
        # Three from Thursday: Friday, Monday, Tuesday.
        (FRIDAY - timedelta(days=1), "LOW", datetime(2026, 12, 1, 15, 0, tzinfo=UTC)),
        # From Wednesday: no weekend in between.
        (FRIDAY - timedelta(days=2), "NORMAL", FRIDAY - timedelta(days=1)),
        # At the weekend the count starts on Monday at 00:00.
        (datetime(2026, 11, 28, 10, 0, tzinfo=UTC), "NORMAL", datetime(2026, 12, 1, tzinfo=UTC)),
        (datetime(2026, 11, 29, 23, 59, tzinfo=UTC), "LOW", datetime(2026, 12, 3, tzinfo=UTC)),
    ],
)
def test_first_response_due(created_at: datetime, priority: str, due: datetime) -> None:
    assert first_response_due(created_at, priority, TARGETS) == due


def test_business_days_are_counted_in_utc() -> None:
    # Saturday 01:00 in Harare is still Friday 23:00 UTC: a business day.
    harare = timezone(timedelta(hours=2))
    created_at = datetime(2026, 11, 28, 1, 0, tzinfo=harare)
    assert first_response_due(created_at, "NORMAL", TARGETS) == datetime(
        2026, 11, 30, 23, 0, tzinfo=UTC
    )


@pytest.mark.parametrize("text", ["24", "-1", "six", ""])
def test_a_bad_summary_hour_is_refused_naming_the_setting(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORT_SUMMARY_HOUR_UTC", text)
    with pytest.raises(ValueError, match=r"^SUPPORT_SUMMARY_HOUR_UTC: "):
        DECLARED.check_defaults()
    monkeypatch.setenv("SUPPORT_SUMMARY_HOUR_UTC", "0")
    assert DECLARED.check_defaults() is DECLARED


def test_bad_targets_in_the_environment_stop_the_start_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SUPPORT_RESPONSE_TARGETS", "URGENT=1h")
    with pytest.raises(BadTargets, match=r"^SUPPORT_RESPONSE_TARGETS: no target for"):
        DECLARED.check_defaults()
