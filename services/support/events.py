"""The events support publishes. Contracts only: this module imports nothing but
`shared.events` (see there).

No event ever carries an internal note, nor says that one exists: notifications email
what these events hold to clients."""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import Event, Timestamp


class SupportEvent(Event):
    source = "support"


@dataclass(frozen=True, kw_only=True)
class TicketCreated(SupportEvent):
    """A ticket was opened: by a member ("client"), by staff ("staff"), or by the suite
    itself ("system": a disputed or refunded payment, a suspended account). The field is
    `ticket_source`: `source` is every event's publishing service."""

    event_type = "ticket.created"

    ticket_id: str
    organization_id: str
    subject: str
    priority: str
    ticket_source: str
    opened_by_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class TicketReplied(SupportEvent):
    """A public reply was posted, by staff (`by_staff`) or by a member of the organization.
    Internal notes are no replies: they announce nothing."""

    event_type = "ticket.replied"

    ticket_id: str
    organization_id: str
    subject: str
    message_id: str
    message: str
    by_staff: bool
    sender_id: str


@dataclass(frozen=True, kw_only=True)
class TicketStatusChanged(SupportEvent):
    """A ticket moved from one status to another; `reopened` when it left RESOLVED for
    IN_PROGRESS (a client's reply, or staff)."""

    event_type = "ticket.status_changed"

    ticket_id: str
    organization_id: str
    subject: str
    old_status: str
    new_status: str
    reopened: bool


@dataclass(frozen=True, kw_only=True)
class TicketAssigned(SupportEvent):
    """Staff assigned a ticket to a staff user."""

    event_type = "ticket.assigned"

    ticket_id: str
    organization_id: str
    subject: str
    assigned_to_id: str


@dataclass(frozen=True, kw_only=True)
class SupportDailySummary(SupportEvent):
    """Once a day, after SUPPORT_SUMMARY_HOUR_UTC: the tickets staff still have to act on
    (`open`: not RESOLVED or CLOSED), those past their first-response target, those nobody
    is assigned to, and the oldest open one."""

    event_type = "support.daily_summary"

    day: str
    open: int
    breached: int
    unassigned: int
    oldest_ticket_id: str | None = None
    oldest_subject: str | None = None
    oldest_created_at: Timestamp | None = None
