"""Terminal usage from ingest to invoice: batches stored once per idempotency key, hourly
rollups kept exactly in step, usage reports, usage claims for invoices, and the event-type
registry. The database is shared by the whole run, so every organization is new."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from services.metering import event_types, ingest, usage
from services.metering.models import UsageEvent, UsageRollup
from shared.authorization import MemberRole
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.ids import cuid
from shared.unit_of_work import UnitOfWork

UnitOfWorkFactory = Callable[[str], AbstractContextManager[UnitOfWork]]

RECEIVED = datetime(2025, 4, 3, 12, tzinfo=UTC)


def at(day: int, hour: int = 0, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=UTC)


def event(
    key: str, moment: datetime, event_type: str = "pos.transaction", quantity: int = 1
) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "quantity": quantity,
        "timestamp": moment.isoformat(),
        "idempotency_key": key,
        "event_data": {"till": 1},
    }


def batch(
    organization_id: str, events: list[dict[str, Any]], api_key_id: str | None = None
) -> dict[str, Any]:
    return {
        "organization_id": organization_id,
        "api_key_id": api_key_id,
        "received_at": RECEIVED.isoformat(),
        "events": events,
    }


def record(unit_of_work: UnitOfWorkFactory, message: dict[str, Any]) -> tuple[int, int]:
    with unit_of_work("metering") as uow:
        return ingest.record_usage(uow, message)


def stored_keys(unit_of_work: UnitOfWorkFactory, organization_id: str) -> list[str]:
    with unit_of_work("metering") as uow:
        return sorted(
            uow.session.scalars(
                select(UsageEvent.idempotency_key).where(
                    UsageEvent.organization_id == organization_id
                )
            )
        )


def rollups(
    unit_of_work: UnitOfWorkFactory, organization_id: str
) -> set[tuple[datetime, str, str, int, int]]:
    """(hour, event type, api key, quantity, events) of each rollup row."""
    with unit_of_work("metering") as uow:
        rows = uow.session.execute(
            select(
                UsageRollup.hour,
                UsageRollup.event_type,
                UsageRollup.api_key_id,
                UsageRollup.quantity,
                UsageRollup.events,
            ).where(UsageRollup.organization_id == organization_id)
        )
        return {(hour, kind, key, quantity, count) for hour, kind, key, quantity, count in rows}


def invoice_of_each_event(unit_of_work: UnitOfWorkFactory, organization_id: str) -> dict[str, Any]:
    with unit_of_work("metering") as uow:
        rows = uow.session.execute(
            select(UsageEvent.idempotency_key, UsageEvent.invoice_id).where(
                UsageEvent.organization_id == organization_id
            )
        )
        return dict(rows.all())


def report(unit_of_work: UnitOfWorkFactory, organization_id: str, **query: Any) -> dict[str, Any]:
    with unit_of_work("metering") as uow:
        return usage.usage_report(uow, organization_id, query)


def claim(
    unit_of_work: UnitOfWorkFactory, organization_id: str, period_end: datetime, invoice_id: str
) -> dict[str, int]:
    with unit_of_work("metering") as uow:
        return usage.claim_usage(uow, organization_id, period_end.isoformat(), invoice_id)


def outbox_events(unit_of_work: UnitOfWorkFactory, name: str) -> list[str]:
    """Types of metering's outbox events about the event type `name`, oldest first."""
    with unit_of_work("metering") as uow:
        outbox = uow.tables.outbox_message
        return list(
            uow.session.scalars(
                select(outbox.event_type)
                .where(outbox.payload["name"].as_string() == name)
                .order_by(outbox.created_at, outbox.id)
            )
        )


# --- ingest: each idempotency key once ------------------------------------------------------


def test_a_key_repeated_inside_one_batch_is_stored_once(unit_of_work) -> None:
    org = cuid()
    events = [event("a", at(10, 9)), event("b", at(10, 9)), event("a", at(10, 9))]

    assert record(unit_of_work, batch(org, events)) == (2, 1)
    assert stored_keys(unit_of_work, org) == ["a", "b"]


def test_a_resent_batch_is_all_duplicates(unit_of_work) -> None:
    org = cuid()
    events = [event("a", at(10, 9)), event("b", at(10, 10))]
    assert record(unit_of_work, batch(org, events)) == (2, 0)

    assert record(unit_of_work, batch(org, events)) == (0, 2)
    assert record(unit_of_work, batch(org, [event("b", at(10, 10)), event("c", at(10, 11))])) == (
        1,
        1,
    )
    assert stored_keys(unit_of_work, org) == ["a", "b", "c"]


def test_the_same_key_in_two_organizations_is_two_events(unit_of_work) -> None:
    first, second = cuid(), cuid()

    assert record(unit_of_work, batch(first, [event("shared-key", at(10, 9))])) == (1, 0)
    assert record(unit_of_work, batch(second, [event("shared-key", at(10, 9))])) == (1, 0)
    assert stored_keys(unit_of_work, first) == ["shared-key"]
    assert stored_keys(unit_of_work, second) == ["shared-key"]


def test_an_empty_batch_records_nothing(unit_of_work) -> None:
    assert record(unit_of_work, batch(cuid(), [])) == (0, 0)


# --- rollups: exactly the new rows ------------------------------------------------------------


def test_rollups_sum_quantity_and_count_per_hour_event_type_and_api_key(unit_of_work) -> None:
    org, till, kiosk = cuid(), cuid(), cuid()
    record(
        unit_of_work,
        batch(
            org,
            [
                event("t1", at(10, 9, 5), quantity=3),
                event("t2", at(10, 9, 59), quantity=4),
                event("t3", at(10, 10, 0), quantity=5),
                event("r1", at(10, 9, 30), "pos.refund", quantity=2),
            ],
            api_key_id=till,
        ),
    )
    record(unit_of_work, batch(org, [event("k1", at(10, 9, 15), quantity=7)], api_key_id=kiosk))
    # Another organization's usage in the same hour is not ours.
    record(unit_of_work, batch(cuid(), [event("t1", at(10, 9, 5), quantity=100)], till))

    assert rollups(unit_of_work, org) == {
        (at(10, 9), "pos.transaction", till, 7, 2),
        (at(10, 10), "pos.transaction", till, 5, 1),
        (at(10, 9), "pos.refund", till, 2, 1),
        (at(10, 9), "pos.transaction", kiosk, 7, 1),
    }


def test_rollup_hours_are_utc_hours_whatever_the_offset_sent(unit_of_work) -> None:
    org = cuid()
    harare = timezone(timedelta(hours=2))
    # 14:30 in Harare is 12:30 UTC: the 12:00 UTC hour.
    record(unit_of_work, batch(org, [event("a", datetime(2025, 3, 10, 14, 30, tzinfo=harare))]))

    assert rollups(unit_of_work, org) == {(at(10, 12), "pos.transaction", "", 1, 1)}


def test_resending_and_duplicates_do_not_change_rollups(unit_of_work) -> None:
    org, key = cuid(), cuid()
    events = [event("a", at(10, 9), quantity=2), event("b", at(10, 9), quantity=3)]
    record(unit_of_work, batch(org, events, key))
    before = rollups(unit_of_work, org)

    record(unit_of_work, batch(org, events, key))
    record(unit_of_work, batch(org, [*events, event("a", at(10, 9), quantity=50)], key))

    assert rollups(unit_of_work, org) == before == {(at(10, 9), "pos.transaction", key, 5, 2)}


def test_a_partly_new_batch_adds_only_its_new_events_to_rollups(unit_of_work) -> None:
    org, key = cuid(), cuid()
    record(unit_of_work, batch(org, [event("a", at(10, 9), quantity=2)], key))

    new, duplicates = record(
        unit_of_work,
        batch(org, [event("a", at(10, 9), quantity=2), event("b", at(10, 9), quantity=6)], key),
    )

    assert (new, duplicates) == (1, 1)
    assert rollups(unit_of_work, org) == {(at(10, 9), "pos.transaction", key, 8, 2)}


def test_events_without_an_api_key_roll_up_under_the_empty_key(unit_of_work) -> None:
    org = cuid()
    record(unit_of_work, batch(org, [event("a", at(10, 9), quantity=2)], api_key_id=None))
    keyless = batch(org, [event("b", at(10, 9), quantity=3)])
    del keyless["api_key_id"]
    record(unit_of_work, keyless)

    assert rollups(unit_of_work, org) == {(at(10, 9), "pos.transaction", "", 5, 2)}
    with unit_of_work("metering") as uow:
        stored = uow.session.scalars(
            select(UsageEvent.api_key_id).where(UsageEvent.organization_id == org)
        ).all()
    assert stored == [None, None]


# --- usage reports --------------------------------------------------------------------------


@pytest.fixture
def reported_org(unit_of_work) -> dict[str, str]:
    """An organization with usage on 10 and 11 March from a till key and without a key,
    and one event on 12 March, outside the reports' window."""
    org, till = cuid(), cuid()
    record(
        unit_of_work,
        batch(
            org,
            [
                event("t1", at(10, 9), quantity=2),
                event("t2", at(10, 23, 59), quantity=3),
                event("r1", at(11, 0, 0), "pos.refund", quantity=1),
            ],
            api_key_id=till,
        ),
    )
    record(unit_of_work, batch(org, [event("n1", at(11, 8), quantity=4)]))
    record(unit_of_work, batch(org, [event("late", at(12, 0), quantity=1000)], till))
    return {"org": org, "till": till}


WINDOW = {"from": at(10).isoformat(), "to": at(12).isoformat()}


def test_report_by_day(unit_of_work, as_system, reported_org) -> None:
    with as_system():
        result = report(unit_of_work, reported_org["org"], **WINDOW, group_by="day")

    assert result == {
        "organization_id": reported_org["org"],
        "group_by": "day",
        "rows": [
            {"day": "2025-03-10", "quantity": 5, "events": 2},
            {"day": "2025-03-11", "quantity": 5, "events": 2},
        ],
    }


def test_report_by_event_type_is_the_default(unit_of_work, as_user, reported_org) -> None:
    with as_user(reported_org["org"], MemberRole.MEMBER):
        result = report(unit_of_work, reported_org["org"], **WINDOW)

    assert result["group_by"] == "event_type"
    assert result["rows"] == [
        {"event_type": "pos.refund", "quantity": 1, "events": 1},
        {"event_type": "pos.transaction", "quantity": 9, "events": 3},
    ]


def test_report_by_api_key_shows_keyless_usage_as_none(unit_of_work, as_user, reported_org):
    with as_user(reported_org["org"], MemberRole.ADMIN):
        result = report(unit_of_work, reported_org["org"], **WINDOW, group_by="api_key")

    assert result["rows"] == [
        {"api_key_id": reported_org["till"], "quantity": 6, "events": 3},
        {"api_key_id": None, "quantity": 4, "events": 1},
    ]


def test_report_by_invoice_shows_billed_and_unbilled_usage(
    unit_of_work, as_system, reported_org
) -> None:
    org, invoice_id = reported_org["org"], cuid()
    with as_system():
        claim(unit_of_work, org, at(11), invoice_id)  # the two events of 10 March
        result = report(unit_of_work, org, **WINDOW, group_by="invoice")

    assert result["rows"] == [
        {"invoice_id": invoice_id, "event_type": "pos.transaction", "quantity": 5, "events": 2},
        {"invoice_id": None, "event_type": "pos.refund", "quantity": 1, "events": 1},
        {"invoice_id": None, "event_type": "pos.transaction", "quantity": 4, "events": 1},
    ]


def test_a_user_of_another_organization_gets_not_found(unit_of_work, as_user, reported_org) -> None:
    with (
        as_user(cuid(), MemberRole.OWNER),
        pytest.raises(NotFound) as raised,
    ):
        report(unit_of_work, reported_org["org"], **WINDOW)

    assert "organization_id" in raised.value.fields


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": at(12).isoformat(), "to": at(10).isoformat()}, "to"),
        ({"from": at(10).isoformat(), "to": at(10).isoformat()}, "to"),
        ({**WINDOW, "group_by": "week"}, "group_by"),
        ({**WINDOW, "limit": 10}, "limit"),
        ({"to": at(12).isoformat()}, "from"),
        ({"from": "2025-03-10T00:00:00", "to": at(12).isoformat()}, "from"),
    ],
    ids=["to-before-from", "empty-window", "unknown-group-by", "unknown-parameter",
         "missing-from", "naive-from"],
)  # fmt: skip
def test_an_invalid_query_names_the_field(
    unit_of_work, as_user, reported_org, query: dict[str, Any], field: str
) -> None:
    with (
        as_user(reported_org["org"], MemberRole.MEMBER),
        pytest.raises(ValidationFailed) as raised,
    ):
        report(unit_of_work, reported_org["org"], **query)

    assert field in raised.value.fields


# --- usage claims for invoices ----------------------------------------------------------------


def test_claiming_usage_is_for_the_suite_not_even_staff(unit_of_work, as_user) -> None:
    org = cuid()
    record(unit_of_work, batch(org, [event("a", at(10, 9))]))

    with as_user(is_staff=True), pytest.raises(Forbidden):
        claim(unit_of_work, org, at(31), cuid())
    with as_user(is_staff=True), pytest.raises(Forbidden), unit_of_work("metering") as uow:
        usage.release_usage(uow, cuid())

    assert invoice_of_each_event(unit_of_work, org) == {"a": None}


def test_a_claim_takes_only_unbilled_events_before_period_end(unit_of_work, as_system) -> None:
    org, march, april = cuid(), cuid(), cuid()
    record(
        unit_of_work,
        batch(
            org,
            [
                event("feb", at(28, 10, month=2), quantity=2),
                event("mar", at(31, 23, 59), quantity=3),
                event("refund", at(15), "pos.refund", quantity=1),
                event("apr-1", at(1, month=4), quantity=10),  # at period end: excluded
                event("apr-2", at(2, month=4), quantity=20),
            ],
        ),
    )
    record(unit_of_work, batch(cuid(), [event("other-org", at(10), quantity=99)]))

    with as_system():
        earlier = claim(unit_of_work, org, at(1), cuid())  # February's invoice
        totals = claim(unit_of_work, org, at(1, month=4), march)
        next_totals = claim(unit_of_work, org, at(1, month=5), april)

    assert earlier == {"pos.transaction": 2}
    assert totals == {"pos.transaction": 3, "pos.refund": 1}
    assert next_totals == {"pos.transaction": 30}
    billed = invoice_of_each_event(unit_of_work, org)
    assert (billed["mar"], billed["refund"]) == (march, march)
    assert (billed["apr-1"], billed["apr-2"]) == (april, april)
    assert billed["feb"] not in (march, april, None)


def test_claiming_again_for_the_same_invoice_claims_nothing_new(unit_of_work, as_system) -> None:
    org, first, second = cuid(), cuid(), cuid()
    record(unit_of_work, batch(org, [event("a", at(5), quantity=2), event("b", at(6), quantity=3)]))
    with as_system():
        totals = claim(unit_of_work, org, at(1, month=4), first)
    # A terminal back-fills an event of the period after it was invoiced.
    record(unit_of_work, batch(org, [event("late", at(20), quantity=7)]))

    with as_system():
        again = claim(unit_of_work, org, at(1, month=4), first)
        assert invoice_of_each_event(unit_of_work, org)["late"] is None
        following = claim(unit_of_work, org, at(1, month=4), second)

    assert totals == again == {"pos.transaction": 5}
    assert following == {"pos.transaction": 7}
    assert invoice_of_each_event(unit_of_work, org) == {"a": first, "b": first, "late": second}


def test_releasing_usage_unclaims_it_for_the_next_claim(unit_of_work, as_system) -> None:
    org, discarded, reissued = cuid(), cuid(), cuid()
    record(unit_of_work, batch(org, [event("a", at(5), quantity=2), event("b", at(6), quantity=3)]))
    with as_system():
        claim(unit_of_work, org, at(1, month=4), discarded)
        with unit_of_work("metering") as uow:
            released = usage.release_usage(uow, discarded)
        assert invoice_of_each_event(unit_of_work, org) == {"a": None, "b": None}
        totals = claim(unit_of_work, org, at(1, month=4), reissued)

    assert released == 2
    assert totals == {"pos.transaction": 5}
    assert invoice_of_each_event(unit_of_work, org) == {"a": reissued, "b": reissued}


# --- the event-type registry --------------------------------------------------------------------


def new_type_name() -> str:
    return f"test.t{cuid()}"


def test_creating_an_event_type_is_for_staff(unit_of_work, as_user) -> None:
    name = new_type_name()
    with (
        as_user(cuid(), MemberRole.OWNER),
        pytest.raises(Forbidden),
        unit_of_work("metering") as uow,
    ):
        event_types.create_event_type(uow, {"name": name, "description": "Not allowed"})

    with as_user(is_staff=True), unit_of_work("metering") as uow:
        created = event_types.create_event_type(uow, {"name": name, "description": "A test"})

    assert created == {"name": name, "description": "A test", "is_active": True}
    with unit_of_work("metering") as uow:
        assert name in event_types.active_event_types(uow)


def test_a_duplicate_event_type_name_is_a_conflict(unit_of_work, as_user) -> None:
    name = new_type_name()
    with as_user(is_staff=True), unit_of_work("metering") as uow:
        event_types.create_event_type(uow, {"name": name, "description": "First"})

    with (
        as_user(is_staff=True),
        pytest.raises(Conflict) as raised,
        unit_of_work("metering") as uow,
    ):
        event_types.create_event_type(uow, {"name": name, "description": "Second"})

    assert "name" in raised.value.fields
    with as_user(is_staff=True), unit_of_work("metering") as uow:
        page = event_types.list_event_types(uow, {"limit": 200})
    listed = [row for row in page["items"] if row["name"] == name]
    assert listed == [{"name": name, "description": "First", "is_active": True}]


def test_a_deactivated_event_type_is_no_longer_active(unit_of_work, as_user) -> None:
    name = new_type_name()
    with as_user(is_staff=True), unit_of_work("metering") as uow:
        event_types.create_event_type(uow, {"name": name, "description": "Soon gone"})

    with as_user(is_staff=True), unit_of_work("metering") as uow:
        updated = event_types.update_event_type(uow, name, {"is_active": False})

    assert updated["is_active"] is False
    with unit_of_work("metering") as uow:
        active = event_types.active_event_types(uow)
    assert name not in active
    assert "pos.transaction" in active


def test_creating_and_changing_an_event_type_announce_it(unit_of_work, as_user) -> None:
    name = new_type_name()
    with as_user(is_staff=True), unit_of_work("metering") as uow:
        event_types.create_event_type(uow, {"name": name, "description": "Announced"})
    assert outbox_events(unit_of_work, name) == ["event_types.changed"]

    with as_user(is_staff=True), unit_of_work("metering") as uow:
        event_types.update_event_type(uow, name, {"is_active": False})

    assert outbox_events(unit_of_work, name) == ["event_types.changed", "event_types.changed"]


def test_an_event_type_name_longer_than_its_column_is_refused(unit_of_work, as_user) -> None:
    with (
        as_user(is_staff=True),
        pytest.raises(ValidationFailed) as raised,
        unit_of_work("metering") as uow,
    ):
        event_types.create_event_type(uow, {"name": "pos." + "x" * 70, "description": "Too long"})
    assert "name" in raised.value.fields


def test_only_storable_events_are_written_and_the_others_are_named(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    good = {"event_type": "pos.transaction", "quantity": 2, "idempotency_key": "fine"}
    message = {
        "organization_id": "org-storable",
        "api_key_id": None,
        "received_at": "2026-11-20T10:00:00+00:00",
        "events": [
            good,
            {**good, "idempotency_key": "nul\x00"},
            {**good, "idempotency_key": "x" * 129},
            {**good, "idempotency_key": "q", "quantity": 10**30},
            {**good, "idempotency_key": "d", "event_data": {"note": "\ud800"}},
            {**good, "idempotency_key": "t", "timestamp": "yesterday"},
            "not an event",
        ],
    }
    events, problems = ingest.storable_events(message)
    assert events == [good]
    assert set(problems) == {
        "events.1.idempotency_key",
        "events.2.idempotency_key",
        "events.3.quantity",
        "events.4.event_data.note",
        "events.5.timestamp",
        "events.6",
    }
    with unit_of_work("metering") as uow:
        assert ingest.record_usage(uow, message, events) == (1, 0)


def test_a_message_without_a_usable_organization_stores_nothing() -> None:
    events, problems = ingest.storable_events({"organization_id": "o" * 33, "events": []})
    assert events == []
    assert "organization_id" in problems
