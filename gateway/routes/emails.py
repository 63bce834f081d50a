"""The email log, for staff: every email the suite sent or tried to send (queued, sent,
failed with its error and attempts), one email with its parts, and sending one again."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request

from gateway.access import STAFF
from gateway.routing import STAFF_TAGS, Gateway, RouteTable
from services.notifications import schemas as notifications
from shared.rpc import call

routes = RouteTable(*STAFF_TAGS)

EMAIL = "/v1/admin/emails/<email_id>"


@routes.add(
    "GET",
    "/v1/admin/emails",
    summary="Every email, newest first, by recipient, template, status, entity, "
    "organization, request id or day",
    access=STAFF,
    query=notifications.EmailQuerySchema,
    response=notifications.EmailPageSchema,
)
def list_emails(gateway: Gateway, request: Request, query: dict[str, str]) -> dict[str, Any]:
    return call(gateway.notifications.list_emails, query)


@routes.add(
    "GET",
    EMAIL,
    summary="An email with its plain-text and HTML parts (an emailed link's token never shows)",
    access=STAFF,
    response=notifications.EmailLogSchema,
)
def get_email(gateway: Gateway, request: Request, email_id: str) -> dict[str, Any]:
    return call(gateway.notifications.get_email, email_id)


@routes.add(
    "POST",
    EMAIL + "/resend",
    summary="Send an email again, as a new email that names the one it resends (409 while "
    "the original is still queued)",
    access=STAFF,
    response=notifications.EmailLogSchema,
    status=201,
    errors=[409],
)
def resend_email(gateway: Gateway, request: Request, email_id: str) -> dict[str, Any]:
    return call(gateway.notifications.resend_email, email_id)
