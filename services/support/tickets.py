"""Tickets: opened by members (or staff for them), read, moved through their statuses,
assigned and re-prioritized by staff.

Statuses (anything else is refused with 409 naming `status`, and so is the same status):

    OPEN              -> IN_PROGRESS | WAITING_ON_CLIENT | RESOLVED | CLOSED
    IN_PROGRESS       -> WAITING_ON_CLIENT | RESOLVED | CLOSED
    WAITING_ON_CLIENT -> IN_PROGRESS | RESOLVED | CLOSED
    RESOLVED          -> IN_PROGRESS (reopened) | CLOSED
    CLOSED            -> nothing: a new ticket is opened instead

RESOLVED sets resolved_at, leaving it clears it. Every change is audited and announced in
the same transaction; the ticket row is locked (`FOR UPDATE`) while it changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select

from services.support.events import TicketAssigned, TicketCreated, TicketStatusChanged
from services.support.models import (
    SupportMessage,
    SupportPriority,
    SupportTicket,
    SupportTicketStatus,
    TicketSource,
)
from services.support.response_targets import ResponseTargets, first_response_due
from services.support.schemas import (
    ABOUT_FIELDS,
    AssignSchema,
    RecipientsSchema,
    StatusChangeSchema,
    TicketCreateSchema,
    TicketSchema,
    TicketUpdateSchema,
)
from shared import context
from shared.authorization import USE_SUPPORT, authorize, require_staff, require_system
from shared.clock import utcnow
from shared.errors import Conflict, NotFound
from shared.ids import is_cuid
from shared.schemas import load
from shared.unit_of_work import Transactions, UnitOfWork

Status = SupportTicketStatus

ALLOWED: dict[SupportTicketStatus, frozenset[SupportTicketStatus]] = {
    Status.OPEN: frozenset(
        {Status.IN_PROGRESS, Status.WAITING_ON_CLIENT, Status.RESOLVED, Status.CLOSED}
    ),
    Status.IN_PROGRESS: frozenset({Status.WAITING_ON_CLIENT, Status.RESOLVED, Status.CLOSED}),
    Status.WAITING_ON_CLIENT: frozenset({Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.IN_PROGRESS, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}

OwnerLookup = Callable[[str, str], dict[str, Any]]
"""What a ticket may be about, asked of its owner as the caller: billing's
`get_invoice(organization_id, invoice_id)`, payments' `get_payment(organization_id,
payment_id)`, billing's `get_service(organization_id, service_id)`."""

Owners = Mapping[str, OwnerLookup]
"""The lookup for each of `invoice_id`, `payment_id`, `service_id`."""

StaffLookup = Callable[[str], dict[str, Any]]
"""Identity's `staff_user(user_id)`: {id, email, name}, or NotFound."""


def caller_is_staff() -> bool:
    """A CVT staff member signed in (the suite itself is not a person)."""
    ctx = context.current()
    return ctx.actor_type == context.USER and ctx.is_staff


def dump(ticket: SupportTicket) -> dict[str, Any]:
    return TicketSchema().dump(ticket)


def ticket_not_found() -> NotFound:
    return NotFound("ticket not found", {"ticket_id": ["not found"]})


def find(uow: UnitOfWork, ticket_id: str, *, lock: bool = False) -> SupportTicket:
    ticket = (
        uow.session.get(SupportTicket, ticket_id, with_for_update=lock)
        if is_cuid(ticket_id)
        else None
    )
    if ticket is None:
        raise ticket_not_found()
    return ticket


def find_for(
    uow: UnitOfWork, organization_id: str, ticket_id: str, *, lock: bool = False
) -> SupportTicket:
    """The organization's ticket; another organization's is not found (never Forbidden)."""
    ticket = find(uow, ticket_id, lock=lock)
    if ticket.organization_id != organization_id:
        raise ticket_not_found()
    return ticket


def open_ticket(
    store: Transactions,
    organization_id: str,
    data: dict[str, Any],
    targets: ResponseTargets,
    owners: Owners,
) -> dict[str, Any]:
    """A member's (or staff's, for the organization) new ticket. What it is about is asked
    of its owner first, with no transaction open: not the organization's is 404 naming
    the field."""
    ctx = authorize(organization_id, USE_SUPPORT)
    fields = load(TicketCreateSchema(), data)
    about = {name: fields[name] for name in ABOUT_FIELDS if name in fields}
    for name, value in about.items():
        try:
            owners[name](organization_id, value)
        except NotFound:
            raise NotFound(f"{name.removesuffix('_id')} not found", {name: ["not found"]}) from None
    if caller_is_staff():
        source = TicketSource.STAFF
    elif ctx.actor_type == context.SYSTEM:
        source = TicketSource.SYSTEM
    else:
        source = TicketSource.CLIENT
    with store.transaction() as uow:
        ticket = create(
            uow,
            organization_id=organization_id,
            subject=fields["subject"],
            description=fields["description"],
            priority=SupportPriority(fields["priority"]),
            source=source,
            opened_by_id=ctx.actor_id,
            targets=targets,
            **about,
        )
        return dump(ticket)


def create(
    uow: UnitOfWork,
    *,
    organization_id: str,
    subject: str,
    description: str,
    priority: SupportPriority,
    source: TicketSource,
    targets: ResponseTargets,
    opened_by_id: str | None = None,
    origin_key: str | None = None,
    **about: str,
) -> SupportTicket:
    """A new ticket, audited and announced (`ticket.created`)."""
    now = utcnow()
    ticket = SupportTicket(
        organization_id=organization_id,
        subject=subject,
        description=description,
        priority=priority,
        status=Status.OPEN,
        source=source,
        opened_by_id=opened_by_id,
        origin_key=origin_key,
        created_at=now,
        updated_at=now,
        first_response_due_at=first_response_due(now, priority, targets),
        **about,
    )
    uow.session.add(ticket)
    uow.session.flush()
    uow.audit(
        "ticket.opened",
        "SupportTicket",
        ticket.id,
        {"organization_id": organization_id, "priority": priority.value, "source": source.value}
        | about,
        organization_id=organization_id,
    )
    uow.emit(
        TicketCreated(
            ticket_id=ticket.id,
            organization_id=organization_id,
            subject=subject,
            priority=priority.value,
            ticket_source=source.value,
            opened_by_id=opened_by_id,
        )
    )
    return ticket


def get_ticket(uow: UnitOfWork, organization_id: str, ticket_id: str) -> dict[str, Any]:
    authorize(organization_id, USE_SUPPORT)
    return dump(find_for(uow, organization_id, ticket_id))


def get_any_ticket(uow: UnitOfWork, ticket_id: str) -> dict[str, Any]:
    require_staff()
    return dump(find(uow, ticket_id))


def move(uow: UnitOfWork, ticket: SupportTicket, new: SupportTicketStatus) -> None:
    """Change a (locked) ticket's status if the flow allows it; else 409 naming `status`."""
    old = ticket.status
    if new == old:
        raise Conflict(f"the ticket is {old.value} already", {"status": [f"already {old.value}"]})
    if new not in ALLOWED[old]:
        allowed = ", ".join(sorted(ALLOWED[old])) or "nothing"
        raise Conflict(
            f"a {old.value} ticket cannot become {new.value} (allowed: {allowed})",
            {"status": [f"not allowed from {old.value}"]},
        )
    ticket.status = new
    ticket.resolved_at = utcnow() if new == Status.RESOLVED else None
    reopened = old == Status.RESOLVED and new == Status.IN_PROGRESS
    uow.audit(
        "ticket.status_changed",
        "SupportTicket",
        ticket.id,
        {"old_status": old.value, "new_status": new.value, "reopened": reopened},
        organization_id=ticket.organization_id,
    )
    uow.emit(
        TicketStatusChanged(
            ticket_id=ticket.id,
            organization_id=ticket.organization_id,
            subject=ticket.subject,
            old_status=old.value,
            new_status=new.value,
            reopened=reopened,
        )
    )


def close_ticket(uow: UnitOfWork, organization_id: str, ticket_id: str) -> dict[str, Any]:
    """A member closes their organization's ticket, from any status but CLOSED."""
    authorize(organization_id, USE_SUPPORT)
    ticket = find_for(uow, organization_id, ticket_id, lock=True)
    move(uow, ticket, Status.CLOSED)
    return dump(ticket)


def change_ticket_status(uow: UnitOfWork, ticket_id: str, data: dict[str, Any]) -> dict:
    require_staff()
    fields = load(StatusChangeSchema(), data)
    ticket = find(uow, ticket_id, lock=True)
    move(uow, ticket, Status(fields["status"]))
    return dump(ticket)


def update_ticket(
    uow: UnitOfWork, ticket_id: str, data: dict[str, Any], targets: ResponseTargets
) -> dict[str, Any]:
    """Staff change the priority; the first response is then due by the new priority's
    target, counted from when the ticket was opened."""
    require_staff()
    fields = load(TicketUpdateSchema(), data)
    ticket = find(uow, ticket_id, lock=True)
    priority = SupportPriority(fields["priority"])
    if priority != ticket.priority:
        old = ticket.priority
        ticket.priority = priority
        ticket.first_response_due_at = first_response_due(ticket.created_at, priority, targets)
        uow.audit(
            "ticket.priority_changed",
            "SupportTicket",
            ticket.id,
            {
                "old_priority": old.value,
                "new_priority": priority.value,
                "first_response_due_at": ticket.first_response_due_at.isoformat(),
            },
            organization_id=ticket.organization_id,
        )
    return dump(ticket)


def assign_ticket(
    store: Transactions, ticket_id: str, data: dict[str, Any], staff_user: StaffLookup
) -> dict[str, Any]:
    """Staff give a ticket to a staff user (identity is asked first, with no transaction
    open), or to nobody (null). Giving it to whom it has already is no change."""
    require_staff()
    fields = load(AssignSchema(), data)
    assignee = fields["assigned_to_id"]
    if assignee is not None:
        try:
            staff_user(assignee)
        except NotFound:
            raise NotFound(
                "no staff user has this id", {"assigned_to_id": ["not a staff user"]}
            ) from None
    with store.transaction() as uow:
        ticket = find(uow, ticket_id, lock=True)
        if ticket.assigned_to_id != assignee:
            previous = ticket.assigned_to_id
            ticket.assigned_to_id = assignee
            uow.audit(
                "ticket.assigned" if assignee else "ticket.unassigned",
                "SupportTicket",
                ticket.id,
                {"assigned_to_id": assignee, "previous_assigned_to_id": previous},
                organization_id=ticket.organization_id,
            )
            if assignee is not None:
                uow.emit(
                    TicketAssigned(
                        ticket_id=ticket.id,
                        organization_id=ticket.organization_id,
                        subject=ticket.subject,
                        assigned_to_id=assignee,
                    )
                )
        return dump(ticket)


def ticket_recipients(uow: UnitOfWork, ticket_id: str) -> dict[str, Any]:
    """For notifications: the client's participants in a ticket, first to join first: who
    opened it (if a member did) and every member who posted a public message. Never staff,
    and nobody for a note (notes are internal)."""
    require_system()
    ticket = find(uow, ticket_id)
    user_ids: list[str] = []
    if ticket.source == TicketSource.CLIENT and ticket.opened_by_id:
        user_ids.append(ticket.opened_by_id)
    senders = uow.session.scalars(
        select(SupportMessage.sender_id)
        .where(
            SupportMessage.ticket_id == ticket.id,
            SupportMessage.is_internal.is_(False),
            SupportMessage.sender_is_staff.is_(False),
        )
        .order_by(SupportMessage.created_at, SupportMessage.id)
    )
    for sender in senders:
        if sender not in user_ids:
            user_ids.append(sender)
    return RecipientsSchema().dump(
        {"organization_id": ticket.organization_id, "user_ids": user_ids}
    )
