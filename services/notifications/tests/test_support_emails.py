"""Support's emails: staff hear of new and reopened tickets (and get a daily summary) at the
support inbox, an assignee of their ticket; a ticket's client participants (or, with none,
the organization's address) of a staff reply and of a resolution. Built from the events
alone, which hold no internal note; subjects carry client text on one line only."""

from __future__ import annotations

from dataclasses import replace
from unittest.mock import Mock

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from services.notifications import messages
from services.notifications.models import EmailLog, EmailStatus
from services.notifications.service import NotificationsService
from services.notifications.tests.helpers import Store, handled_events, rendered
from services.support.events import (
    SupportDailySummary,
    TicketAssigned,
    TicketCreated,
    TicketReplied,
    TicketStatusChanged,
)
from shared.errors import NotFound
from shared.ids import cuid

TEAM = "helpdesk@cvt.test"
TENDAI = {"id": "user-1", "email": "tendai@acme.co.zw", "name": "Tendai Moyo"}
RUDO = {"id": "user-2", "email": "rudo@acme.co.zw", "name": None}
AGENT = {"id": "staff-1", "email": "agent@cvt.co.zw", "name": "Farai"}

CREATED = TicketCreated(
    ticket_id="tkt-1",
    organization_id="org-1",
    subject="Till 3 does not print receipts",
    priority="HIGH",
    ticket_source="client",
    opened_by_id="user-1",
)
STAFF_REPLY = TicketReplied(
    ticket_id="tkt-1",
    organization_id="org-1",
    subject="Till 3 does not print receipts",
    message_id="msg-1",
    message="Please restart the till; a technician comes on Monday.",
    by_staff=True,
    sender_id="staff-1",
)
RESOLVED = TicketStatusChanged(
    ticket_id="tkt-1",
    organization_id="org-1",
    subject="Till 3 does not print receipts",
    old_status="IN_PROGRESS",
    new_status="RESOLVED",
    reopened=False,
)
REOPENED = replace(RESOLVED, old_status="RESOLVED", new_status="IN_PROGRESS", reopened=True)
ASSIGNED = TicketAssigned(
    ticket_id="tkt-1",
    organization_id="org-1",
    subject="Till 3 does not print receipts",
    assigned_to_id="staff-1",
)
SUMMARY = SupportDailySummary(
    day="2026-05-04",
    open=7,
    breached=2,
    unassigned=3,
    oldest_ticket_id="tkt-0",
    oldest_subject="Printer jams",
    oldest_created_at="2026-04-28T09:15:00+00:00",
)


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_URL", "https://app.cvt.test")
    monkeypatch.setenv("SUPPORT_TEAM_EMAIL", TEAM)


def identity(*known: dict[str, str | None]) -> Mock:
    """Stands in for identity: knows these users, and the organization org-1."""
    found = Mock()
    users = {user["id"]: user for user in known}
    found.contact_addresses.side_effect = lambda ids: [users[i] for i in ids if i in users]
    found.get_organization.return_value = {"name": "Acme Stores", "email": "ops@acme.co.zw"}
    return found


def support(*user_ids: str) -> Mock:
    found = Mock()
    found.ticket_recipients.return_value = {"organization_id": "org-1", "user_ids": list(user_ids)}
    return found


# --- to staff -------------------------------------------------------------------------------


def test_a_new_ticket_goes_to_the_support_inbox_naming_priority_and_opener() -> None:
    ask = identity(TENDAI)
    email = messages.ticket_created_email(ask, CREATED)

    ask.contact_addresses.assert_called_once_with(["user-1"])
    assert (email.template, email.to, email.entity_type, email.entity_id) == (
        "support-ticket-created", TEAM, "SupportTicket", "tkt-1",
    )  # fmt: skip
    subject, body = rendered(email)
    assert subject == "New ticket [HIGH]: Till 3 does not print receipts"
    assert "Organization: org-1\n" in body
    assert "Opened by: Tendai Moyo <tendai@acme.co.zw>\n" in body
    assert "https://app.cvt.test/admin/tickets/tkt-1\n" in body


def test_a_ticket_the_system_opened_says_so_without_asking_identity() -> None:
    ask = identity()
    system = replace(CREATED, ticket_source="system", opened_by_id=None, priority="HIGH")
    _, body = rendered(messages.ticket_created_email(ask, system))

    ask.contact_addresses.assert_not_called()
    assert "Opened by: the system\n" in body


def test_a_ticket_staff_opened_names_the_staff_member_and_a_gone_user_by_id() -> None:
    by_staff = replace(CREATED, ticket_source="staff", opened_by_id="staff-1")
    assert (
        "Opened by: CVT staff: Farai <agent@cvt.co.zw>\n"
        in rendered(messages.ticket_created_email(identity(AGENT), by_staff))[1]
    )
    assert (
        "Opened by: user user-1\n"
        in rendered(messages.ticket_created_email(identity(), CREATED))[1]
    )


def test_a_client_subject_cannot_add_headers() -> None:
    hostile = replace(CREATED, subject="Help\r\nBcc: everyone@example.com\x00\n")
    subject, _ = rendered(messages.ticket_created_email(identity(TENDAI), hostile))
    assert subject == "New ticket [HIGH]: Help Bcc: everyone@example.com"
    assert not any(ch in subject for ch in "\r\n\x00")


def test_a_reopened_ticket_goes_to_the_support_inbox() -> None:
    ask = support("user-1")
    email = messages.ticket_status_email(identity(TENDAI), ask, REOPENED)

    ask.ticket_recipients.assert_not_called()
    assert (email.template, email.to) == ("support-ticket-reopened", TEAM)
    subject, body = rendered(email)
    assert subject == "Ticket reopened: Till 3 does not print receipts"
    assert "Status: RESOLVED -> IN_PROGRESS\n" in body


def test_the_assignee_hears_of_their_ticket() -> None:
    ask = identity(AGENT)
    email = messages.ticket_assigned_email(ask, ASSIGNED)

    ask.contact_addresses.assert_called_once_with(["staff-1"])
    assert (email.template, email.to) == ("support-ticket-assigned", "agent@cvt.co.zw")
    subject, body = rendered(email)
    assert subject == "Ticket assigned to you: Till 3 does not print receipts"
    assert "Hello Farai," in body
    assert "https://app.cvt.test/admin/tickets/tkt-1\n" in body


def test_no_assignment_email_once_the_assignee_is_gone() -> None:
    assert messages.ticket_assigned_email(identity(), ASSIGNED) is None


def test_the_daily_summary_goes_to_the_support_inbox() -> None:
    email = messages.support_summary_email(SUMMARY)

    assert (email.template, email.to, email.entity_type, email.entity_id) == (
        "support-daily-summary", TEAM, "SupportSummary", "2026-05-04",
    )  # fmt: skip
    subject, body = rendered(email)
    assert subject == "Support summary 2026-05-04: 7 open, 2 past their response target"
    assert "Open: 7\nPast their first-response target: 2\nUnassigned: 3\n" in body
    assert 'Oldest open ticket: "Printer jams" (tkt-0), opened 2026-04-28.' in body


def test_a_summary_with_nothing_open_says_so() -> None:
    quiet = SupportDailySummary(day="2026-05-05", open=0, breached=0, unassigned=0)
    _, body = rendered(messages.support_summary_email(quiet))
    assert "No ticket is open." in body
    assert "Oldest" not in body


# --- to the client --------------------------------------------------------------------------


def test_a_staff_reply_goes_to_the_client_participants_with_its_text() -> None:
    ask_identity, ask_support = identity(TENDAI, RUDO), support("user-1", "user-2")
    email = messages.ticket_reply_email(ask_identity, ask_support, STAFF_REPLY)

    ask_support.ticket_recipients.assert_called_once_with("tkt-1")
    ask_identity.contact_addresses.assert_called_once_with(["user-1", "user-2"])
    assert (email.template, email.to, email.entity_type, email.entity_id) == (
        "support-reply", "tendai@acme.co.zw, rudo@acme.co.zw", "SupportTicket", "tkt-1",
    )  # fmt: skip
    subject, body = rendered(email)
    assert subject == "CVT support replied: Till 3 does not print receipts"
    assert '"Till 3 does not print receipts"' in body
    assert "\n\nPlease restart the till; a technician comes on Monday.\n\n" in body
    assert "https://app.cvt.test/support/tickets/tkt-1\n" in body
    assert "admin" not in body
    assert "internal" not in body.lower()


def test_a_clients_own_reply_sends_nothing() -> None:
    ask = support("user-1")
    by_client = replace(STAFF_REPLY, by_staff=False, sender_id="user-1")
    assert messages.ticket_reply_email(identity(TENDAI), ask, by_client) is None
    ask.ticket_recipients.assert_not_called()


def test_without_participants_the_organization_address_gets_the_reply() -> None:
    """A ticket the system opened has no client participant yet."""
    ask = identity()
    email = messages.ticket_reply_email(ask, support(), STAFF_REPLY)

    ask.contact_addresses.assert_not_called()
    ask.get_organization.assert_called_once_with("org-1")
    assert (email.template, email.to) == ("support-reply", "ops@acme.co.zw")


def test_participants_who_are_all_gone_fall_back_to_the_organization_address() -> None:
    email = messages.ticket_reply_email(identity(), support("user-9"), STAFF_REPLY)
    assert email.to == "ops@acme.co.zw"


def test_no_client_email_once_the_ticket_or_the_organization_is_gone() -> None:
    gone = Mock()
    gone.ticket_recipients.side_effect = NotFound("ticket not found")
    assert messages.ticket_reply_email(identity(TENDAI), gone, STAFF_REPLY) is None
    no_org = identity()
    no_org.get_organization.side_effect = NotFound("organization not found")
    assert messages.ticket_reply_email(no_org, support(), STAFF_REPLY) is None


def test_identity_is_asked_for_at_most_a_hundred_participants_a_call() -> None:
    many = [f"user-{n}" for n in range(150)]
    ask = identity(TENDAI)
    email = messages.ticket_reply_email(ask, support(*many), STAFF_REPLY)

    assert [len(c.args[0]) for c in ask.contact_addresses.call_args_list] == [100, 50]
    assert email.to == "tendai@acme.co.zw"


def test_a_resolved_ticket_tells_the_client_that_replying_reopens_it() -> None:
    email = messages.ticket_status_email(identity(TENDAI), support("user-1"), RESOLVED)

    assert (email.template, email.to) == ("support-ticket-resolved", "tendai@acme.co.zw")
    subject, body = rendered(email)
    assert subject == "Your ticket is resolved: Till 3 does not print receipts"
    assert "replying reopens it" in body
    assert "https://app.cvt.test/support/tickets/tkt-1\n" in body


@pytest.mark.parametrize(
    ("old", "new"),
    [("OPEN", "IN_PROGRESS"), ("IN_PROGRESS", "WAITING_ON_CLIENT"), ("RESOLVED", "CLOSED")],
)
def test_other_status_changes_send_nothing(old: str, new: str) -> None:
    ask = support("user-1")
    moved = replace(RESOLVED, old_status=old, new_status=new)
    assert messages.ticket_status_email(identity(TENDAI), ask, moved) is None
    ask.ticket_recipients.assert_not_called()


# --- the handlers ---------------------------------------------------------------------------


def test_notifications_hears_every_support_event_it_emails_about() -> None:
    assert {
        ("support", "ticket.created"),
        ("support", "ticket.replied"),
        ("support", "ticket.status_changed"),
        ("support", "ticket.assigned"),
        ("support", "support.daily_summary"),
    } <= handled_events(NotificationsService)


def worker(unit_of_work, mailer: Mock) -> NotificationsService:
    return worker_factory(
        NotificationsService,
        db=Store(unit_of_work),
        mailer=mailer,
        identity=identity(TENDAI, AGENT),
        support=support("user-1"),
    )


def sent_log(unit_of_work, event_id: str) -> EmailLog:
    with unit_of_work("notifications") as uow:
        row = uow.session.scalar(select(EmailLog).where(EmailLog.event_id == event_id))
        uow.session.expunge(row)
        return row


@pytest.mark.parametrize(
    ("handler", "event", "to", "template"),
    [
        ("send_new_ticket_email", CREATED, TEAM, "support-ticket-created"),
        ("send_ticket_reply_email", STAFF_REPLY, "tendai@acme.co.zw", "support-reply"),
        ("send_ticket_status_email", RESOLVED, "tendai@acme.co.zw", "support-ticket-resolved"),
        ("send_ticket_status_email", REOPENED, TEAM, "support-ticket-reopened"),
        ("send_ticket_assigned_email", ASSIGNED, "agent@cvt.co.zw", "support-ticket-assigned"),
        ("send_support_summary_email", SUMMARY, TEAM, "support-daily-summary"),
    ],
)
def test_each_support_event_sends_one_email_even_delivered_twice(
    unit_of_work, handler: str, event, to: str, template: str
) -> None:
    mailer, event = Mock(), replace(event, event_id=cuid())
    service = worker(unit_of_work, mailer)

    getattr(service, handler)(event.to_payload())
    getattr(service, handler)(event.to_payload())

    [(sent_to, subject, _, _, _)] = [c.args for c in mailer.send.call_args_list]
    assert sent_to == to
    row = sent_log(unit_of_work, event.event_id)
    assert (row.status, row.template, row.to, row.subject, row.attempts) == (
        EmailStatus.SENT, template, to, subject, 1,
    )  # fmt: skip


def test_a_clients_reply_event_sends_and_logs_nothing(unit_of_work) -> None:
    mailer = Mock()
    event = replace(STAFF_REPLY, event_id=cuid(), by_staff=False, sender_id="user-1")
    worker(unit_of_work, mailer).send_ticket_reply_email(event.to_payload())
    mailer.send.assert_not_called()
    with unit_of_work("notifications") as uow:
        assert (
            uow.session.scalar(select(EmailLog).where(EmailLog.event_id == event.event_id)) is None
        )
