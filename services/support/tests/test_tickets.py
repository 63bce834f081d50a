"""Opening tickets (about the organization's own things only), who sees which ticket, the
documented status flow, first-response due times and breaches, assignment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest

from services.support import messages, search, tickets
from services.support.tests.conftest import (
    STAFF_ID,
    TARGETS,
    Desk,
    audit_actions,
    event_types_about,
    events_about,
    load_ticket,
    staff_user,
)
from shared.authorization import MemberRole
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.ids import cuid


def test_a_member_opens_a_ticket_due_by_its_priority(desk: Desk) -> None:
    shown = desk.open(priority="URGENT")
    assert (shown["status"], shown["priority"], shown["source"]) == ("OPEN", "URGENT", "client")
    assert shown["opened_by_id"] == desk.org.member_id
    ticket = load_ticket(shown["id"])
    assert ticket.first_response_due_at == ticket.created_at + timedelta(hours=1)
    assert (shown["first_responded_at"], shown["response_breached"]) == (None, False)
    [(event_type, payload)] = events_about(shown["id"])
    assert event_type == "ticket.created"
    assert (payload["priority"], payload["ticket_source"], payload["opened_by_id"]) == (
        "URGENT",
        "client",
        desk.org.member_id,
    )
    assert audit_actions(shown["id"]) == ["ticket.opened"]


def test_priority_defaults_to_normal(desk: Desk) -> None:
    assert desk.open()["priority"] == "NORMAL"


@pytest.mark.parametrize("name", ["invoice_id", "payment_id", "service_id"])
def test_a_ticket_is_about_the_organizations_own_thing(desk: Desk, name: str) -> None:
    own = next(iter(getattr(desk.org, name.replace("_id", "_ids"))))
    assert desk.open(**{name: own})[name] == own
    with pytest.raises(NotFound) as refused:
        desk.open(**{name: cuid()})
    assert list(refused.value.fields) == [name]


def test_a_ticket_is_about_one_thing_at_most(desk: Desk) -> None:
    invoice_id, payment_id = next(iter(desk.org.invoice_ids)), next(iter(desk.org.payment_ids))
    with pytest.raises(ValidationFailed) as refused:
        desk.open(invoice_id=invoice_id, payment_id=payment_id)
    assert list(refused.value.fields) == ["payment_id"]
    assert desk.org.asked == []


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"subject": ""}, "subject"),
        ({"subject": "   "}, "subject"),
        ({"subject": "s" * 201}, "subject"),
        ({"description": "d" * 10_001}, "description"),
        ({"priority": "MEDIUM"}, "priority"),
        ({"status": "CLOSED"}, "status"),
    ],
)
def test_bad_tickets_are_refused_naming_the_field(
    desk: Desk, data: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        desk.open(**data)
    assert field in refused.value.fields


def test_owners_are_asked_before_any_transaction_opens(desk: Desk) -> None:
    opened: list[str] = []
    real = desk.store.transaction

    def transaction() -> Any:
        opened.append("transaction")
        return real()

    lookups = desk.org.owners

    def invoice_of(organization_id: str, invoice_id: str) -> dict[str, Any]:
        assert opened == []
        return lookups["invoice_id"](organization_id, invoice_id)

    with desk.member(), mock.patch.object(desk.store, "transaction", transaction):
        tickets.open_ticket(
            desk.store,
            desk.org.id,
            {"subject": "s", "description": "d", "invoice_id": next(iter(desk.org.invoice_ids))},
            TARGETS,
            lookups | {"invoice_id": invoice_of},
        )
    assert opened == ["transaction"]


def test_staff_open_tickets_for_an_organization(desk: Desk) -> None:
    with desk.staff():
        shown = tickets.open_ticket(
            desk.store, desk.org.id, {"subject": "s", "description": "d"}, TARGETS, {}
        )
    assert (shown["source"], shown["opened_by_id"]) == ("staff", STAFF_ID)


def test_members_see_only_their_organizations_tickets(desk: Desk, as_user: Any) -> None:
    mine = desk.open()
    other = Desk(desk.store, as_user)
    theirs = other.open()
    with desk.member(), desk.store.transaction() as uow:
        assert tickets.get_ticket(uow, desk.org.id, mine["id"])["id"] == mine["id"]
        with pytest.raises(NotFound) as refused:
            tickets.get_ticket(uow, desk.org.id, theirs["id"])
        assert list(refused.value.fields) == ["ticket_id"]
        with pytest.raises(NotFound) as refused:
            tickets.get_ticket(uow, desk.org.id, "not-an-id")
        assert list(refused.value.fields) == ["ticket_id"]
        with pytest.raises(NotFound) as refused:
            search.list_tickets(uow, other.org.id, {})
        assert list(refused.value.fields) == ["organization_id"]
        page = search.list_tickets(uow, desk.org.id, {})
    assert [item["id"] for item in page["items"]] == [mine["id"]]


def test_members_list_newest_first_and_filter(desk: Desk) -> None:
    first = desk.open(priority="LOW")
    second = desk.open(priority="HIGH")
    desk.status(first["id"], "RESOLVED")
    with desk.member(), desk.store.transaction() as uow:

        def ids(query: dict[str, Any]) -> list[str]:
            return [item["id"] for item in search.list_tickets(uow, desk.org.id, query)["items"]]

        assert ids({}) == [second["id"], first["id"]]
        assert ids({"status": "RESOLVED"}) == [first["id"]]
        assert ids({"priority": "HIGH"}) == [second["id"]]
        assert ids({"limit": 1, "offset": 1}) == [first["id"]]
        with pytest.raises(ValidationFailed) as refused:
            ids({"status": "DONE"})
        assert list(refused.value.fields) == ["status"]


def test_staff_functions_are_staff_only(desk: Desk) -> None:
    ticket = desk.open()
    with desk.member(MemberRole.OWNER), desk.store.transaction() as uow:
        for call in (
            lambda: search.list_all_tickets(uow, {}),
            lambda: tickets.get_any_ticket(uow, ticket["id"]),
            lambda: messages.list_any_messages(uow, ticket["id"], {}),
            lambda: messages.post_staff_message(uow, ticket["id"], {"message": "x"}),
            lambda: tickets.change_ticket_status(uow, ticket["id"], {"status": "CLOSED"}),
            lambda: tickets.update_ticket(uow, ticket["id"], {"priority": "LOW"}, TARGETS),
            lambda: tickets.ticket_recipients(uow, ticket["id"]),
        ):
            with pytest.raises(Forbidden):
                call()
        with pytest.raises(Forbidden):
            tickets.assign_ticket(
                desk.store, ticket["id"], {"assigned_to_id": STAFF_ID}, staff_user
            )


# --- the status flow ------------------------------------------------------------------------

ALLOWED = {
    ("OPEN", "IN_PROGRESS"),
    ("OPEN", "WAITING_ON_CLIENT"),
    ("OPEN", "RESOLVED"),
    ("OPEN", "CLOSED"),
    ("IN_PROGRESS", "WAITING_ON_CLIENT"),
    ("IN_PROGRESS", "RESOLVED"),
    ("IN_PROGRESS", "CLOSED"),
    ("WAITING_ON_CLIENT", "IN_PROGRESS"),
    ("WAITING_ON_CLIENT", "RESOLVED"),
    ("WAITING_ON_CLIENT", "CLOSED"),
    ("RESOLVED", "IN_PROGRESS"),
    ("RESOLVED", "CLOSED"),
}
STATUSES = ("OPEN", "IN_PROGRESS", "WAITING_ON_CLIENT", "RESOLVED", "CLOSED")
# How a new ticket reaches each status.
PATHS = {
    "OPEN": [],
    "IN_PROGRESS": ["IN_PROGRESS"],
    "WAITING_ON_CLIENT": ["WAITING_ON_CLIENT"],
    "RESOLVED": ["RESOLVED"],
    "CLOSED": ["CLOSED"],
}


@pytest.mark.parametrize("old", STATUSES)
@pytest.mark.parametrize("new", STATUSES)
def test_the_documented_transitions_and_no_others(desk: Desk, old: str, new: str) -> None:
    ticket = desk.open()
    for step in PATHS[old]:
        desk.status(ticket["id"], step)
    if (old, new) in ALLOWED:
        assert desk.status(ticket["id"], new)["status"] == new
        assert event_types_about(ticket["id"])[-1] == "ticket.status_changed"
    else:
        with pytest.raises(Conflict) as refused:
            desk.status(ticket["id"], new)
        assert list(refused.value.fields) == ["status"]
        assert load_ticket(ticket["id"]).status == old


def test_resolving_stamps_resolved_at_and_reopening_clears_it(desk: Desk) -> None:
    ticket = desk.open()
    assert desk.status(ticket["id"], "RESOLVED")["resolved_at"] is not None
    assert desk.status(ticket["id"], "IN_PROGRESS")["resolved_at"] is None
    [_, resolved, reopened] = events_about(ticket["id"])
    assert (resolved[1]["new_status"], resolved[1]["reopened"]) == ("RESOLVED", False)
    assert (reopened[1]["old_status"], reopened[1]["reopened"]) == ("RESOLVED", True)


def test_a_client_closes_from_any_status_but_closed(desk: Desk) -> None:
    ticket = desk.open()
    desk.status(ticket["id"], "RESOLVED")
    with desk.member(), desk.store.transaction() as uow:
        assert tickets.close_ticket(uow, desk.org.id, ticket["id"])["status"] == "CLOSED"
    with desk.member(), pytest.raises(Conflict) as refused, desk.store.transaction() as uow:
        tickets.close_ticket(uow, desk.org.id, ticket["id"])
    assert list(refused.value.fields) == ["status"]


def test_a_closed_ticket_takes_no_reply(desk: Desk) -> None:
    ticket = desk.open()
    desk.status(ticket["id"], "CLOSED")
    with pytest.raises(Conflict) as refused:
        desk.member_says(ticket["id"], "hello?")
    assert list(refused.value.fields) == ["ticket_id"]
    with pytest.raises(Conflict) as refused:
        desk.staff_says(ticket["id"], "hello")
    assert list(refused.value.fields) == ["ticket_id"]


@pytest.mark.parametrize(
    ("before", "after", "reopened"),
    [
        ("WAITING_ON_CLIENT", "IN_PROGRESS", False),
        ("RESOLVED", "IN_PROGRESS", True),
        ("IN_PROGRESS", "IN_PROGRESS", None),
        ("OPEN", "OPEN", None),
    ],
)
def test_a_client_reply_hands_the_ticket_back_to_staff(
    desk: Desk, before: str, after: str, reopened: bool | None
) -> None:
    ticket = desk.open()
    for step in PATHS[before]:
        desk.status(ticket["id"], step)
    shown = desk.member_says(ticket["id"], "Still broken.")
    assert (shown["from_staff"], shown["is_internal"]) == (False, False)
    assert load_ticket(ticket["id"]).status == after
    events = events_about(ticket["id"])
    if reopened is None:
        assert events[-1][0] == "ticket.replied"
    else:
        assert [events[-2][0], events[-1][0]] == ["ticket.replied", "ticket.status_changed"]
        assert events[-1][1]["reopened"] is reopened


def test_staffs_first_public_reply_starts_work_and_is_the_first_response(desk: Desk) -> None:
    ticket = desk.open()
    desk.staff_says(ticket["id"], "Looking at it.", internal=True)
    assert load_ticket(ticket["id"]).first_responded_at is None  # a note answers nobody
    shown = desk.staff_says(ticket["id"], "We are on it.")
    assert shown["from_staff"] is True
    after = load_ticket(ticket["id"])
    assert (after.status, after.first_responded_at) == ("IN_PROGRESS", after.first_responded_at)
    assert after.first_responded_at is not None
    desk.staff_says(ticket["id"], "Please restart it.", status="WAITING_ON_CLIENT")
    later = load_ticket(ticket["id"])
    assert later.status == "WAITING_ON_CLIENT"
    assert later.first_responded_at == after.first_responded_at
    replied = [payload for kind, payload in events_about(ticket["id"]) if kind == "ticket.replied"]
    assert [(p["message"], p["by_staff"]) for p in replied] == [
        ("We are on it.", True),
        ("Please restart it.", True),
    ]


def test_a_staff_reply_naming_a_forbidden_status_posts_nothing(desk: Desk) -> None:
    ticket = desk.open()
    desk.status(ticket["id"], "RESOLVED")
    with pytest.raises(Conflict) as refused:
        desk.staff_says(ticket["id"], "Done?", status="WAITING_ON_CLIENT")
    assert list(refused.value.fields) == ["status"]
    with desk.staff(), desk.store.transaction() as uow:
        assert messages.list_any_messages(uow, ticket["id"], {})["total"] == 0
    with pytest.raises(ValidationFailed) as refused:
        desk.staff_says(ticket["id"], "note", internal=True, status="CLOSED")
    assert list(refused.value.fields) == ["status"]


# --- response targets -----------------------------------------------------------------------


def test_a_missed_target_shows_as_breached_and_staff_sort_by_it(desk: Desk) -> None:
    late = desk.open(priority="URGENT")
    answered = desk.open(priority="URGENT")
    fresh = desk.open(priority="LOW")
    with desk.store.transaction() as uow:
        for ticket_id in (late["id"], answered["id"]):
            ticket = uow.session.get(tickets.SupportTicket, ticket_id)
            ticket.created_at -= timedelta(hours=2)
            ticket.first_response_due_at -= timedelta(hours=2)
    desk.staff_says(answered["id"], "Sorry for the wait.")
    with desk.member(), desk.store.transaction() as uow:
        assert tickets.get_ticket(uow, desk.org.id, late["id"])["response_breached"] is True
        assert tickets.get_ticket(uow, desk.org.id, answered["id"])["response_breached"] is True
        assert tickets.get_ticket(uow, desk.org.id, fresh["id"])["response_breached"] is False
    with desk.staff(), desk.store.transaction() as uow:

        def ids(query: dict[str, Any]) -> list[str]:
            page = search.list_all_tickets(uow, {"organization_id": desk.org.id, **query})
            return [item["id"] for item in page["items"]]

        assert ids({}) == [late["id"], fresh["id"], answered["id"]]
        assert ids({"breached": "true"}) == [late["id"], answered["id"]]
        assert ids({"breached": "false"}) == [fresh["id"]]


def test_staff_changing_the_priority_recompute_the_due_time(desk: Desk) -> None:
    ticket = desk.open(priority="LOW")
    with desk.staff(), desk.store.transaction() as uow:
        shown = tickets.update_ticket(uow, ticket["id"], {"priority": "HIGH"}, TARGETS)
    assert shown["priority"] == "HIGH"
    stored = load_ticket(ticket["id"])
    assert stored.first_response_due_at == stored.created_at + timedelta(hours=4)
    assert audit_actions(ticket["id"])[-1] == "ticket.priority_changed"


# --- assignment -----------------------------------------------------------------------------


def test_staff_assign_a_ticket_to_a_staff_user(desk: Desk) -> None:
    ticket = desk.open()
    with desk.staff():
        shown = tickets.assign_ticket(
            desk.store, ticket["id"], {"assigned_to_id": STAFF_ID}, staff_user
        )
        again = tickets.assign_ticket(
            desk.store, ticket["id"], {"assigned_to_id": STAFF_ID}, staff_user
        )
        with pytest.raises(NotFound) as refused:
            tickets.assign_ticket(desk.store, ticket["id"], {"assigned_to_id": cuid()}, staff_user)
        assert list(refused.value.fields) == ["assigned_to_id"]
        with pytest.raises(NotFound) as refused:
            tickets.assign_ticket(desk.store, cuid(), {"assigned_to_id": STAFF_ID}, staff_user)
        assert list(refused.value.fields) == ["ticket_id"]
        unassigned = tickets.assign_ticket(
            desk.store, ticket["id"], {"assigned_to_id": None}, staff_user
        )
    assert (shown["assigned_to_id"], again["assigned_to_id"]) == (STAFF_ID, STAFF_ID)
    assert unassigned["assigned_to_id"] is None
    assigned = [
        payload for kind, payload in events_about(ticket["id"]) if kind == "ticket.assigned"
    ]
    assert [payload["assigned_to_id"] for payload in assigned] == [STAFF_ID]
    assert audit_actions(ticket["id"])[1:] == ["ticket.assigned", "ticket.unassigned"]
