"""Staff's summary (open, breached, unassigned, per priority, the oldest open ticket) and
the daily `support.daily_summary`, sent once per day after the configured hour. Other
tests' tickets share the database, so counts are compared before and after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from services.support import summary, tickets
from services.support.models import SupportTicket, tables
from services.support.tests.conftest import STAFF_ID, Desk, staff_user
from shared.errors import Forbidden


def current(desk: Desk) -> dict[str, Any]:
    with desk.staff(), desk.store.transaction() as uow:
        return summary.support_summary(uow)


def test_the_summary_counts_what_staff_must_act_on(desk: Desk) -> None:
    before = current(desk)
    late = desk.open(priority="URGENT")
    assigned = desk.open(priority="LOW")
    done = desk.open(priority="HIGH")
    desk.status(done["id"], "RESOLVED")
    with desk.staff():
        tickets.assign_ticket(desk.store, assigned["id"], {"assigned_to_id": STAFF_ID}, staff_user)
    with desk.store.transaction() as uow:
        ticket = uow.session.get(SupportTicket, late["id"])
        ticket.created_at = datetime(1990, 1, 1, tzinfo=UTC)
        ticket.first_response_due_at = ticket.created_at + timedelta(hours=1)
    after = current(desk)
    assert after["open"] - before["open"] == 2
    assert after["breached"] - before["breached"] == 1
    assert after["unassigned"] - before["unassigned"] == 1
    assert {
        priority: after["by_priority"][priority] - before["by_priority"][priority]
        for priority in ("URGENT", "HIGH", "NORMAL", "LOW")
    } == {"URGENT": 1, "HIGH": 0, "NORMAL": 0, "LOW": 1}
    assert after["oldest"] == {
        "ticket_id": late["id"],
        "subject": late["subject"],
        "organization_id": desk.org.id,
        "created_at": "1990-01-01T00:00:00+00:00",
    }


def test_the_summary_is_for_staff(desk: Desk) -> None:
    with desk.member(), desk.store.transaction() as uow, pytest.raises(Forbidden):
        summary.support_summary(uow)


def test_the_daily_summary_goes_out_once_after_the_hour(desk: Desk, as_system: Any) -> None:
    day = datetime(2990, 3, 4, tzinfo=UTC)
    with as_system():
        assert summary.send_daily_summary(desk.store, 6, day.replace(hour=5, minute=59)) is False
        assert summary.send_daily_summary(desk.store, 6, day.replace(hour=6, minute=1)) is True
        assert summary.send_daily_summary(desk.store, 6, day.replace(hour=23)) is False
        assert summary.send_daily_summary(desk.store, 6, day + timedelta(days=1, hours=7))
    outbox = tables.outbox_message
    with desk.store.transaction() as uow:
        payloads = list(
            uow.session.scalars(
                select(outbox.payload)
                .where(outbox.event_type == "support.daily_summary")
                .where(outbox.payload["day"].as_string().in_(["2990-03-04", "2990-03-05"]))
                .order_by(outbox.created_at)
            )
        )
    assert [payload["day"] for payload in payloads] == ["2990-03-04", "2990-03-05"]
    assert {"open", "breached", "unassigned", "oldest_ticket_id"} <= set(payloads[0])


def test_only_the_suite_sends_the_daily_summary(desk: Desk) -> None:
    with desk.staff(), pytest.raises(Forbidden):
        summary.send_daily_summary(desk.store, 0)
