"""Messages on tickets: public replies (members and staff) and staff's internal notes.

Internal notes never reach a client: the members' functions select public messages only,
whoever calls them (staff included, so the members' view is exactly what clients see);
staff read notes through their own functions. A note is audited but announces nothing:
no event carries a note's text or says that one exists."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from services.support.events import TicketReplied
from services.support.models import SYSTEM_SENDER, SupportMessage, SupportTicket
from services.support.schemas import (
    MessageQuerySchema,
    MessageSchema,
    ReplySchema,
    StaffMessageSchema,
)
from services.support.tickets import (
    Status,
    caller_is_staff,
    find,
    find_for,
    move,
)
from shared import context
from shared.authorization import USE_SUPPORT, authorize, require_staff
from shared.clock import utcnow
from shared.errors import Conflict
from shared.pagination import paginate
from shared.schemas import load
from shared.unit_of_work import UnitOfWork

# A client's reply brings these back to staff.
BACK_TO_STAFF = frozenset({Status.WAITING_ON_CLIENT, Status.RESOLVED})


def _messages(ticket_id: str, *, internal_too: bool) -> Select:
    statement = select(SupportMessage).where(SupportMessage.ticket_id == ticket_id)
    if not internal_too:
        statement = statement.where(SupportMessage.is_internal.is_(False))
    return statement.order_by(SupportMessage.created_at, SupportMessage.id)


def list_messages(
    uow: UnitOfWork, organization_id: str, ticket_id: str, query: dict[str, Any]
) -> dict[str, Any]:
    """The ticket's public messages, oldest first."""
    authorize(organization_id, USE_SUPPORT)
    page = load(MessageQuerySchema(), query)
    ticket = find_for(uow, organization_id, ticket_id)
    return paginate(uow.session, _messages(ticket.id, internal_too=False), page, _dump)


def list_any_messages(uow: UnitOfWork, ticket_id: str, query: dict[str, Any]) -> dict[str, Any]:
    """Staff: every message of the ticket, internal notes included, oldest first."""
    require_staff()
    page = load(MessageQuerySchema(), query)
    ticket = find(uow, ticket_id)
    return paginate(uow.session, _messages(ticket.id, internal_too=True), page, _dump)


def _dump(message: SupportMessage) -> dict[str, Any]:
    return MessageSchema().dump(message)


def _refuse_closed(ticket: SupportTicket) -> None:
    if ticket.status == Status.CLOSED:
        raise Conflict(
            "the ticket is closed: open a new one", {"ticket_id": ["closed: open a new ticket"]}
        )


def _post(
    uow: UnitOfWork, ticket: SupportTicket, text: str, *, by_staff: bool, internal: bool
) -> SupportMessage:
    message = SupportMessage(
        ticket_id=ticket.id,
        sender_id=context.current().actor_id or SYSTEM_SENDER,
        sender_is_staff=by_staff,
        message=text,
        is_internal=internal,
        created_at=utcnow(),
    )
    uow.session.add(message)
    uow.session.flush()
    uow.audit(
        "ticket.note_added" if internal else "ticket.replied",
        "SupportTicket",
        ticket.id,
        {"message_id": message.id, "by_staff": by_staff},
        organization_id=ticket.organization_id,
    )
    if not internal:
        if by_staff and ticket.first_responded_at is None:
            ticket.first_responded_at = message.created_at
        uow.emit(
            TicketReplied(
                ticket_id=ticket.id,
                organization_id=ticket.organization_id,
                subject=ticket.subject,
                message_id=message.id,
                message=message.message,
                by_staff=by_staff,
                sender_id=message.sender_id,
            )
        )
    return message


def reply(
    uow: UnitOfWork, organization_id: str, ticket_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    """A public reply through the members' API. A client's reply on a ticket waiting on
    them or resolved hands it back to staff (IN_PROGRESS; from RESOLVED, a reopen); staff
    replying here reply as staff."""
    authorize(organization_id, USE_SUPPORT)
    fields = load(ReplySchema(), data)
    ticket = find_for(uow, organization_id, ticket_id, lock=True)
    _refuse_closed(ticket)
    by_staff = caller_is_staff()
    message = _post(uow, ticket, fields["message"], by_staff=by_staff, internal=False)
    if by_staff:
        _staff_replied(uow, ticket, None)
    elif ticket.status in BACK_TO_STAFF:
        move(uow, ticket, Status.IN_PROGRESS)
    return _dump(message)


def _staff_replied(uow: UnitOfWork, ticket: SupportTicket, status: Status | None) -> None:
    """After staff's public reply: the status they named, or work has started on a new
    ticket. Naming the status the ticket has already changes nothing."""
    if status is not None:
        if status != ticket.status:
            move(uow, ticket, status)
    elif ticket.status == Status.OPEN:
        move(uow, ticket, Status.IN_PROGRESS)


def post_staff_message(uow: UnitOfWork, ticket_id: str, data: dict[str, Any]) -> dict:
    """Staff's public reply (optionally naming the ticket's next status) or internal note
    (no status change, no event; allowed on a closed ticket too)."""
    require_staff()
    fields = load(StaffMessageSchema(), data)
    ticket = find(uow, ticket_id, lock=True)
    internal = fields["internal"]
    if internal:
        return _dump(_post(uow, ticket, fields["message"], by_staff=True, internal=True))
    _refuse_closed(ticket)
    status = Status(fields["status"]) if "status" in fields else None
    message = _post(uow, ticket, fields["message"], by_staff=True, internal=False)
    _staff_replied(uow, ticket, status)
    return _dump(message)
