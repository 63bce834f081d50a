"""Tickets that open themselves: a disputed or refunded payment, a suspended account. Once
per event, and added to the open ticket about the same thing rather than a second one.
The client sees the ticket, in plain words; staff's details are in an internal note."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from services.billing.events import BillingAccountSuspended
from services.payments.events import PaymentDisputed, PaymentRefunded
from services.support import automatic, messages, search, tickets
from services.support.models import SupportMessage, SupportTicket
from services.support.tests.conftest import (
    TARGETS,
    Desk,
    Store,
    event_types_about,
    every_event_text,
    load_ticket,
)
from shared.errors import Forbidden
from shared.ids import cuid


def chargeback(kind: type, desk: Desk, payment_id: str | None = None) -> Any:
    return kind(
        payment_id=payment_id or next(iter(desk.org.payment_ids)),
        invoice_id=cuid(),
        organization_id=desk.org.id,
        billing_account_id=cuid(),
        amount=12_345,
        method="PAYNOW_ECOCASH",
        paynow_reference="PN-778899",
    )


def the_tickets(store: Store, organization_id: str) -> list[SupportTicket]:
    with store.transaction() as uow:
        return list(
            uow.session.scalars(
                select(SupportTicket)
                .where(SupportTicket.organization_id == organization_id)
                .order_by(SupportTicket.created_at)
            )
        )


def notes_on(store: Store, ticket_id: str) -> list[SupportMessage]:
    with store.transaction() as uow:
        return list(
            uow.session.scalars(
                select(SupportMessage)
                .where(SupportMessage.ticket_id == ticket_id)
                .order_by(SupportMessage.created_at)
            )
        )


def test_a_disputed_payment_opens_a_ticket_once(desk: Desk, as_system: Any) -> None:
    event = chargeback(PaymentDisputed, desk)
    with as_system():
        assert automatic.payment_disputed(desk.store, event, TARGETS) == automatic.Outcome.OPENED
        assert automatic.payment_disputed(desk.store, event, TARGETS) == (
            automatic.Outcome.REPEATED
        )
    [ticket] = the_tickets(desk.store, desk.org.id)
    assert (ticket.source, ticket.priority, ticket.status) == ("system", "HIGH", "OPEN")
    assert (ticket.payment_id, ticket.origin_key, ticket.opened_by_id) == (
        event.payment_id,
        f"payment.disputed:{event.payment_id}",
        None,
    )
    assert "USD 123.45" in ticket.subject and "Ecocash" in ticket.description
    assert "PN-778899" not in ticket.description  # staff's details go in the note
    [note] = notes_on(desk.store, ticket.id)
    assert (note.is_internal, note.event_id, note.sender_is_staff) == (True, event.event_id, True)
    assert "PN-778899" in note.message and event.payment_id in note.message
    assert event_types_about(ticket.id) == ["ticket.created"]
    assert "PN-778899" not in every_event_text()


def test_the_client_sees_the_ticket_but_not_the_note(desk: Desk, as_system: Any) -> None:
    with as_system():
        automatic.payment_disputed(desk.store, chargeback(PaymentDisputed, desk), TARGETS)
    with desk.member(), desk.store.transaction() as uow:
        [shown] = search.list_tickets(uow, desk.org.id, {})["items"]
        assert (shown["source"], shown["opened_by_id"]) == ("system", None)
        assert messages.list_messages(uow, desk.org.id, shown["id"], {})["items"] == []
        assert search.list_tickets(uow, desk.org.id, {"q": "PN-778899"})["items"] == []
    with desk.staff(), desk.store.transaction() as uow:
        found = search.list_all_tickets(uow, {"q": "PN-778899", "organization_id": desk.org.id})[
            "items"
        ]
    assert [item["id"] for item in found] == [shown["id"]]


def test_a_refund_after_a_dispute_adds_to_the_open_ticket(desk: Desk, as_system: Any) -> None:
    with as_system():
        automatic.payment_disputed(desk.store, chargeback(PaymentDisputed, desk), TARGETS)
        outcome = automatic.payment_refunded(desk.store, chargeback(PaymentRefunded, desk), TARGETS)
    assert outcome == automatic.Outcome.ADDED
    [ticket] = the_tickets(desk.store, desk.org.id)
    assert [note.message.split(".")[0] for note in notes_on(desk.store, ticket.id)] == [
        f"Automatic: Paynow reports payment {ticket.payment_id} DISPUTED",
        f"Automatic: Paynow reports payment {ticket.payment_id} REFUNDED",
    ]
    assert event_types_about(ticket.id) == ["ticket.created"]


def test_a_members_open_ticket_about_the_payment_gets_the_note(desk: Desk, as_system: Any) -> None:
    mine = desk.open(payment_id=next(iter(desk.org.payment_ids)))
    with as_system():
        outcome = automatic.payment_refunded(desk.store, chargeback(PaymentRefunded, desk), TARGETS)
    assert outcome == automatic.Outcome.ADDED
    assert [note.is_internal for note in notes_on(desk.store, mine["id"])] == [True]


def test_a_resolved_ticket_is_not_added_to(desk: Desk, as_system: Any) -> None:
    with as_system():
        automatic.payment_disputed(desk.store, chargeback(PaymentDisputed, desk), TARGETS)
    [first] = the_tickets(desk.store, desk.org.id)
    desk.status(first.id, "RESOLVED")
    with as_system():
        outcome = automatic.payment_disputed(desk.store, chargeback(PaymentDisputed, desk), TARGETS)
    assert outcome == automatic.Outcome.OPENED
    assert len(the_tickets(desk.store, desk.org.id)) == 2
    assert load_ticket(first.id).status == "RESOLVED"


def test_a_suspended_account_opens_a_ticket_or_adds_to_it(desk: Desk, as_system: Any) -> None:
    def suspended() -> BillingAccountSuspended:
        return BillingAccountSuspended(billing_account_id=cuid(), organization_id=desk.org.id)

    first = suspended()
    with as_system():
        assert automatic.account_suspended(desk.store, first, TARGETS) == (automatic.Outcome.OPENED)
        assert automatic.account_suspended(desk.store, first, TARGETS) == (
            automatic.Outcome.REPEATED
        )
        assert automatic.account_suspended(desk.store, suspended(), TARGETS) == (
            automatic.Outcome.ADDED
        )
    [ticket] = the_tickets(desk.store, desk.org.id)
    assert (ticket.subject, ticket.priority, ticket.origin_key) == (
        "Account suspended",
        "HIGH",
        f"billing_account.suspended:{desk.org.id}",
    )
    assert len(notes_on(desk.store, ticket.id)) == 2


def test_only_the_suite_opens_tickets_by_itself(desk: Desk) -> None:
    with desk.staff(), pytest.raises(Forbidden):
        automatic.payment_disputed(desk.store, chargeback(PaymentDisputed, desk), TARGETS)


def test_a_repeat_after_the_ticket_was_resolved_opens_nothing(desk: Desk, as_system: Any) -> None:
    """The repeat finds no open ticket and starts one, but its note (unique event id)
    inserts nothing, so the ticket is rolled back with it."""
    event = chargeback(PaymentDisputed, desk)
    with as_system():
        automatic.payment_disputed(desk.store, event, TARGETS)
    [ticket] = the_tickets(desk.store, desk.org.id)
    desk.status(ticket.id, "RESOLVED")
    with as_system():
        outcome = automatic.payment_disputed(desk.store, event, TARGETS)
    assert outcome == automatic.Outcome.REPEATED
    assert [t.id for t in the_tickets(desk.store, desk.org.id)] == [ticket.id]
    assert event_types_about(ticket.id) == ["ticket.created", "ticket.status_changed"]


def test_the_ticket_is_read_as_any_other(desk: Desk, as_system: Any) -> None:
    with as_system():
        automatic.account_suspended(
            desk.store,
            BillingAccountSuspended(billing_account_id=cuid(), organization_id=desk.org.id),
            TARGETS,
        )
    [ticket] = the_tickets(desk.store, desk.org.id)
    with desk.member(), desk.store.transaction() as uow:
        shown = tickets.get_ticket(uow, desk.org.id, ticket.id)
    assert shown["first_response_due_at"] is not None
    assert shown["response_breached"] is False
