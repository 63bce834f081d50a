"""The money arithmetic of an invoice, without a database: proration, usage, tax."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.billing.invoicing import (
    Line,
    Period,
    previous_month,
    service_lines,
    tax_on,
    usage_lines,
)
from services.billing.models import Service, ServiceStatus, ServiceType

NOVEMBER = Period.month("2026-11")


def service(fee: int, activated: datetime, **fields: object) -> Service:
    return Service(
        id="s", organization_id="o", type=ServiceType.POS_TERMINAL, name="Till", monthly_fee=fee,
        activated_at=activated, status=fields.pop("status", ServiceStatus.ACTIVE), **fields,
    )  # fmt: skip


def at(day: int, hour: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def test_periods_are_calendar_months_in_utc() -> None:
    assert (NOVEMBER.start, NOVEMBER.end, NOVEMBER.days) == (at(1), at(1, month=12), 30)
    assert Period.month("2026-12").end == datetime(2027, 1, 1, tzinfo=UTC)
    assert Period.month("2028-02").days == 29
    assert previous_month(at(1, 3)).label == "2026-10"
    assert previous_month(datetime(2027, 1, 15, tzinfo=UTC)).label == "2026-12"


@pytest.mark.parametrize(
    ("fields", "amount"),
    [
        ({"activated": at(1, month=10)}, 3000),  # all month
        ({"activated": at(16, 15)}, 1500),  # 16th to 30th: 15 of 30 days
        ({"activated": at(1, month=10), "cancelled_at": at(21, 9)}, 2000),  # 1st to 20th
        ({"activated": at(4, 10), "cancelled_at": at(11)}, 700),  # 4th to 10th: 7 days
        (
            {
                "activated": at(1, month=10),
                "status": ServiceStatus.SUSPENDED,
                "suspended_at": at(11),
            },
            1000,
        ),
        ({"activated": at(1, month=10), "cancelled_at": at(1)}, None),  # nothing this month
        ({"activated": at(1, month=12)}, None),  # not yet
    ],
)
def test_fees_are_prorated_by_days(fields: dict, amount: int | None) -> None:
    activated = fields.pop("activated")
    lines = service_lines([service(3000, activated, **fields)], NOVEMBER)
    assert [line.total for line in lines] == ([] if amount is None else [amount])


def test_a_prorated_fee_is_rounded_once_half_away_from_zero() -> None:
    # 1999 x 7 / 30 = 466.43 -> 466; 1000 x 15 / 30 exact; 5 x 15 / 30 = 2.5 -> 3
    assert service_lines([service(1999, at(4), cancelled_at=at(11))], NOVEMBER)[0].total == 466
    assert service_lines([service(5, at(16))], NOVEMBER)[0].total == 3


def test_usage_is_charged_beyond_what_is_included_and_only_if_priced() -> None:
    prices = {"pos.transaction": {"included": 1000, "unit_price": 2}}
    lines = usage_lines({"pos.transaction": 1250, "api.call": 99}, prices)
    assert lines == [Line("Usage: pos.transaction, 1,250 (1,000 included)", 250, 2)]
    assert lines[0].total == 500
    assert usage_lines({"pos.transaction": 900}, prices)[0].total == 0


def test_tax_is_basis_points_of_the_subtotal_rounded_once() -> None:
    assert tax_on(3500, 1500) == 525
    assert tax_on(2466, 1500) == 370  # 369.9
    assert tax_on(1, 5000) == 1  # 0.5 -> 1
    assert tax_on(1000, 0) == 0
