"""Ticket lists: an organization's for its members, every ticket for staff; filtered, and
searched with PostgreSQL full-text search (`websearch_to_tsquery('english', q)` against
the generated, GIN-indexed tsvectors; never LIKE).

A member's search matches a ticket's subject and description and its PUBLIC messages
only, so a word that appears only in an internal note finds nothing for a client; staff's
search also looks in the notes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, cast, func, select, union
from sqlalchemy.dialects.postgresql import REGCONFIG
from sqlalchemy.orm import aliased

from services.support.models import SupportMessage, SupportTicket
from services.support.schemas import StaffTicketQuerySchema, TicketQuerySchema
from services.support.tickets import dump
from shared.authorization import USE_SUPPORT, authorize, require_staff
from shared.clock import utcnow
from shared.pagination import paginate
from shared.schemas import load
from shared.unit_of_work import UnitOfWork


def matching(text: str, *, internal_too: bool) -> ColumnElement[bool]:
    """Tickets whose own text or messages match: one id list from each GIN index (an OR
    across the two tables would read every ticket)."""
    query = func.websearch_to_tsquery(cast("english", REGCONFIG), text)
    own = aliased(SupportTicket)
    by_text = select(own.id).where(own.search_vector.op("@@")(query))
    by_message = select(SupportMessage.ticket_id).where(
        SupportMessage.search_vector.op("@@")(query)
    )
    if not internal_too:
        by_message = by_message.where(SupportMessage.is_internal.is_(False))
    return SupportTicket.id.in_(union(by_text, by_message))


def breached(now: datetime) -> ColumnElement[bool]:
    """The first response came, or is still missing at `now`, after it was due."""
    return func.coalesce(SupportTicket.first_responded_at, now) > (
        SupportTicket.first_response_due_at
    )


def _filtered(query: dict[str, Any], *, internal_too: bool) -> Select:
    statement = select(SupportTicket)
    for name, column in (
        ("status", SupportTicket.status),
        ("priority", SupportTicket.priority),
        ("organization_id", SupportTicket.organization_id),
        ("assigned_to_id", SupportTicket.assigned_to_id),
    ):
        if name in query:
            statement = statement.where(column == query[name])
    if "q" in query:
        statement = statement.where(matching(query["q"], internal_too=internal_too))
    if "breached" in query:
        late = breached(utcnow())
        statement = statement.where(late if query["breached"] else ~late)
    return statement


def list_tickets(uow: UnitOfWork, organization_id: str, query: dict[str, Any]) -> dict[str, Any]:
    """The organization's tickets, newest first."""
    authorize(organization_id, USE_SUPPORT)
    page = load(TicketQuerySchema(), query)
    statement = _filtered({**page, "organization_id": organization_id}, internal_too=False)
    statement = statement.order_by(SupportTicket.created_at.desc(), SupportTicket.id.desc())
    return paginate(uow.session, statement, page, dump)


def list_all_tickets(uow: UnitOfWork, query: dict[str, Any]) -> dict[str, Any]:
    """Staff: every ticket, those still waiting for a first response first, soonest due
    first; then the answered ones the same way."""
    require_staff()
    page = load(StaffTicketQuerySchema(), query)
    statement = _filtered(page, internal_too=True).order_by(
        SupportTicket.first_responded_at.is_not(None),
        SupportTicket.first_response_due_at,
        SupportTicket.created_at,
        SupportTicket.id,
    )
    return paginate(uow.session, statement, page, dump)
