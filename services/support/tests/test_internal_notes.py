"""Internal notes never reach a client: not in the members' message lists, not in their
search results, not in any event (whose payloads notifications email), and their authors
are no client participants. Staff see them, and their searches find them."""

from __future__ import annotations

from typing import Any

from services.support import messages, search, tickets
from services.support.tests.conftest import (
    STAFF_ID,
    TARGETS,
    Desk,
    audit_actions,
    events_about,
    every_event_text,
)
from shared.ids import cuid


def notes_and_replies(desk: Desk) -> tuple[dict[str, Any], str, str]:
    """A ticket with a public staff reply and an internal note, each with a word of its own."""
    public_word, note_word = f"zebra{cuid()[-8:]}", f"walrus{cuid()[-8:]}"
    ticket = desk.open(subject="Printer jams", description="Receipts jam on every sale.")
    desk.staff_says(ticket["id"], f"Client is rude, probably {note_word}.", internal=True)
    desk.staff_says(ticket["id"], f"Please clean the {public_word} roller.")
    desk.member_says(ticket["id"], "Done, thanks.")
    return ticket, public_word, note_word


def test_members_never_list_a_note_and_staff_always_do(desk: Desk) -> None:
    ticket, _, note_word = notes_and_replies(desk)
    with desk.member(), desk.store.transaction() as uow:
        page = messages.list_messages(uow, desk.org.id, ticket["id"], {})
    assert page["total"] == 2
    assert [item["is_internal"] for item in page["items"]] == [False, False]
    assert note_word not in str(page)
    # Staff reading the members' view see what clients see.
    with desk.staff(), desk.store.transaction() as uow:
        assert messages.list_messages(uow, desk.org.id, ticket["id"], {})["total"] == 2
        every = messages.list_any_messages(uow, ticket["id"], {})
    assert [(item["is_internal"], item["from_staff"]) for item in every["items"]] == [
        (True, True),
        (False, True),
        (False, False),
    ]
    assert note_word in every["items"][0]["message"]
    assert every["items"][0]["sender_id"] == STAFF_ID


def test_a_members_search_never_matches_a_note(desk: Desk) -> None:
    ticket, public_word, note_word = notes_and_replies(desk)
    desk.open(subject="Something else", description="Unrelated.")

    def found(query: str) -> list[str]:
        page = search.list_tickets(uow, desk.org.id, {"q": query})
        return [item["id"] for item in page["items"]]

    with desk.member(), desk.store.transaction() as uow:
        assert found(public_word) == [ticket["id"]]
        assert found("jammed receipts") == [ticket["id"]]  # stemmed: the ticket's own text
        assert found(note_word) == []
        assert found(f"{public_word} OR {note_word}") == [ticket["id"]]
    with desk.staff(), desk.store.transaction() as uow:
        assert found(note_word) == []  # the members' view, even for staff
        page = search.list_all_tickets(uow, {"q": note_word})
        assert [item["id"] for item in page["items"]] == [ticket["id"]]
        page = search.list_all_tickets(uow, {"q": f'"{public_word} roller"'})
        assert [item["id"] for item in page["items"]] == [ticket["id"]]


def test_no_event_carries_a_note_or_says_one_exists(desk: Desk) -> None:
    ticket, _, note_word = notes_and_replies(desk)
    kinds = [kind for kind, _ in events_about(ticket["id"])]
    assert kinds == [
        "ticket.created",
        "ticket.replied",  # staff's public reply
        "ticket.status_changed",  # OPEN -> IN_PROGRESS with it
        "ticket.replied",  # the member's
    ]
    assert note_word not in every_event_text()
    assert "ticket.note_added" in audit_actions(ticket["id"])


def test_a_note_on_a_closed_ticket_is_allowed_and_silent(desk: Desk) -> None:
    ticket = desk.open()
    desk.status(ticket["id"], "CLOSED")
    before = events_about(ticket["id"])
    shown = desk.staff_says(ticket["id"], "Closed by mistake?", internal=True)
    assert shown["is_internal"] is True
    assert events_about(ticket["id"]) == before


def test_client_participants_are_members_never_staff(desk: Desk, as_system: Any) -> None:
    ticket, _, _ = notes_and_replies(desk)
    colleague = cuid()
    with desk.as_user(desk.org.id, "ADMIN", actor_id=colleague), desk.store.transaction() as uow:
        messages.reply(uow, desk.org.id, ticket["id"], {"message": "Me too."})
    with as_system(), desk.store.transaction() as uow:
        recipients = tickets.ticket_recipients(uow, ticket["id"])
    assert recipients == {
        "organization_id": desk.org.id,
        "user_ids": [desk.org.member_id, colleague],
    }
    with desk.staff(), desk.store.transaction() as uow:
        opened_by_staff = tickets.create(
            uow,
            organization_id=desk.org.id,
            subject="s",
            description="d",
            priority=tickets.SupportPriority.LOW,
            source=tickets.TicketSource.STAFF,
            opened_by_id=STAFF_ID,
            targets=TARGETS,
        ).id
    with as_system(), desk.store.transaction() as uow:
        assert tickets.ticket_recipients(uow, opened_by_staff)["user_ids"] == []
