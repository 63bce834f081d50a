"""Support: an organization's members open tickets, read and reply to them, and close
them; staff see every ticket, answer in public or in internal notes no client sees,
assign, move tickets along their statuses and read the daily picture."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request

from gateway.access import STAFF, members_who_may
from gateway.routing import STAFF_TAGS, Gateway, RouteTable
from services.support import schemas as support
from shared.authorization import USE_SUPPORT
from shared.rpc import call

routes = RouteTable("support")

TICKETS = "/v1/organizations/<org_id>/tickets"
TICKET = TICKETS + "/<ticket_id>"
ANY_TICKET = "/v1/admin/tickets/<ticket_id>"


@routes.add(
    "POST",
    TICKETS,
    summary="Open a ticket, optionally about one of the organization's invoices, payments "
    "or services",
    access=members_who_may(USE_SUPPORT),
    request=support.TicketCreateSchema,
    response=support.TicketSchema,
    status=201,
)
def open_ticket(gateway: Gateway, request: Request, org_id: str, body: dict) -> dict[str, Any]:
    return call(gateway.support.open_ticket, org_id, body)


@routes.add(
    "GET",
    TICKETS,
    summary="The organization's tickets, newest first, by status, priority or text (`q`)",
    access=members_who_may(USE_SUPPORT),
    query=support.TicketQuerySchema,
    response=support.TicketPageSchema,
)
def list_tickets(gateway: Gateway, request: Request, org_id: str, query: dict) -> dict:
    return call(gateway.support.list_tickets, org_id, query)


@routes.add(
    "GET",
    TICKET,
    summary="A ticket of the organization, with when its first response is due",
    access=members_who_may(USE_SUPPORT),
    response=support.TicketSchema,
)
def get_ticket(gateway: Gateway, request: Request, org_id: str, ticket_id: str) -> dict:
    return call(gateway.support.get_ticket, org_id, ticket_id)


@routes.add(
    "GET",
    TICKET + "/messages",
    summary="A ticket's conversation, oldest first",
    access=members_who_may(USE_SUPPORT),
    query=support.MessageQuerySchema,
    response=support.MessagePageSchema,
)
def list_messages(
    gateway: Gateway, request: Request, org_id: str, ticket_id: str, query: dict
) -> dict[str, Any]:
    return call(gateway.support.list_messages, org_id, ticket_id, query)


@routes.add(
    "POST",
    TICKET + "/messages",
    summary="Reply on a ticket (a waiting or resolved ticket goes back to staff); a closed "
    "ticket takes no replies (409)",
    access=members_who_may(USE_SUPPORT),
    request=support.ReplySchema,
    response=support.MessageSchema,
    status=201,
    errors=[409],
)
def reply(
    gateway: Gateway, request: Request, org_id: str, ticket_id: str, body: dict
) -> dict[str, Any]:
    return call(gateway.support.reply, org_id, ticket_id, body)


@routes.add(
    "POST",
    TICKET + "/close",
    summary="Close a ticket (409 if it is closed already)",
    access=members_who_may(USE_SUPPORT),
    response=support.TicketSchema,
    errors=[409],
)
def close_ticket(gateway: Gateway, request: Request, org_id: str, ticket_id: str) -> dict:
    return call(gateway.support.close_ticket, org_id, ticket_id)


@routes.add(
    "GET",
    "/v1/admin/tickets",
    summary="Every ticket, first response due soonest first, by status, priority, assignee, "
    "organization, text (`q`) or breached target",
    access=STAFF,
    query=support.StaffTicketQuerySchema,
    response=support.TicketPageSchema,
    tags=STAFF_TAGS,
)
def list_all_tickets(gateway: Gateway, request: Request, query: dict) -> dict[str, Any]:
    return call(gateway.support.list_all_tickets, query)


@routes.add(
    "GET",
    ANY_TICKET,
    summary="Any ticket",
    access=STAFF,
    response=support.TicketSchema,
    tags=STAFF_TAGS,
)
def get_any_ticket(gateway: Gateway, request: Request, ticket_id: str) -> dict[str, Any]:
    return call(gateway.support.get_any_ticket, ticket_id)


@routes.add(
    "GET",
    ANY_TICKET + "/messages",
    summary="A ticket's conversation with its internal notes, oldest first",
    access=STAFF,
    query=support.MessageQuerySchema,
    response=support.MessagePageSchema,
    tags=STAFF_TAGS,
)
def list_any_messages(
    gateway: Gateway, request: Request, ticket_id: str, query: dict
) -> dict[str, Any]:
    return call(gateway.support.list_any_messages, ticket_id, query)


@routes.add(
    "POST",
    ANY_TICKET + "/messages",
    summary="Reply to the client (optionally moving the ticket to `status`), or add an "
    "internal note (`internal`: no client ever sees it)",
    access=STAFF,
    request=support.StaffMessageSchema,
    response=support.MessageSchema,
    status=201,
    errors=[409],
    tags=STAFF_TAGS,
)
def post_staff_message(
    gateway: Gateway, request: Request, ticket_id: str, body: dict
) -> dict[str, Any]:
    return call(gateway.support.post_staff_message, ticket_id, body)


@routes.add(
    "POST",
    ANY_TICKET + "/assign",
    summary="Assign a ticket to a staff user",
    access=STAFF,
    request=support.AssignSchema,
    response=support.TicketSchema,
    tags=STAFF_TAGS,
)
def assign_ticket(gateway: Gateway, request: Request, ticket_id: str, body: dict) -> dict:
    return call(gateway.support.assign_ticket, ticket_id, body)


@routes.add(
    "POST",
    ANY_TICKET + "/status",
    summary="Move a ticket to another status (409 where the flow does not allow it)",
    access=STAFF,
    request=support.StatusChangeSchema,
    response=support.TicketSchema,
    errors=[409],
    tags=STAFF_TAGS,
)
def change_ticket_status(
    gateway: Gateway, request: Request, ticket_id: str, body: dict
) -> dict[str, Any]:
    return call(gateway.support.change_ticket_status, ticket_id, body)


@routes.add(
    "PATCH",
    ANY_TICKET,
    summary="Change a ticket's priority (its first response falls due anew)",
    access=STAFF,
    request=support.TicketUpdateSchema,
    response=support.TicketSchema,
    tags=STAFF_TAGS,
)
def update_ticket(gateway: Gateway, request: Request, ticket_id: str, body: dict) -> dict:
    return call(gateway.support.update_ticket, ticket_id, body)


@routes.add(
    "GET",
    "/v1/admin/support/summary",
    summary="Open, breached and unassigned tickets, by priority, and the oldest open one",
    access=STAFF,
    response=support.SupportSummarySchema,
    tags=STAFF_TAGS,
)
def support_summary(gateway: Gateway, request: Request) -> dict[str, Any]:
    return call(gateway.support.support_summary)
