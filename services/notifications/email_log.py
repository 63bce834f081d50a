"""Staff read the email log and resend an email.

A resend is a new row (`resent_from_id` names the original), sent at once with the stored
subject and parts to the stored recipients; an emailed link gets a fresh token (the stored
parts never hold one), so a link that can no longer be issued (an invitation accepted, an
invoice voided) makes the resend a 409. The original must have an outcome: a QUEUED one
may be in the middle of its own attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, select

from services.notifications.emails import SEND_ERRORS, Send, Undeliverable, deliver
from services.notifications.models import EmailLog, EmailStatus
from services.notifications.schemas import EmailLogSchema, EmailQuerySchema, ListedEmailSchema
from shared import context
from shared.authorization import require_staff
from shared.errors import Conflict, NotFound
from shared.ids import cuid, is_cuid
from shared.pagination import paginate
from shared.schemas import load
from shared.unit_of_work import Transactions, UnitOfWork

# What a resend repeats of the original.
REPEATED = (
    "to", "recipients", "subject", "template", "entity_type", "entity_id", "organization_id",
    "text_body", "html_body", "token_kind", "token_ref",
)  # fmt: skip
# (kind, ref) -> a fresh token for the link, or None when none can be issued any more.
FreshToken = Callable[[str, str], str | None]


def _filtered(query: dict[str, Any]) -> Select:
    statement = select(EmailLog)
    for name, column in (
        ("template", EmailLog.template),
        ("status", EmailLog.status),
        ("entity_type", EmailLog.entity_type),
        ("entity_id", EmailLog.entity_id),
        ("organization_id", EmailLog.organization_id),
        ("request_id", EmailLog.request_id),
    ):
        if name in query:
            statement = statement.where(column == query[name])
    if "recipient" in query:
        statement = statement.where(EmailLog.recipients.contains([query["recipient"].lower()]))
    if "from_" in query:
        start = datetime.combine(query["from_"], time.min, UTC)
        statement = statement.where(EmailLog.created_at >= start)
    if "to" in query:
        # The whole day: before the next one starts.
        end = datetime.combine(query["to"], time.min, UTC) + timedelta(days=1)
        statement = statement.where(EmailLog.created_at < end)
    return statement.order_by(EmailLog.created_at.desc(), EmailLog.id.desc())


def list_emails(uow: UnitOfWork, query: dict[str, Any]) -> dict[str, Any]:
    """Staff: the email log, newest first, filtered; without the parts."""
    require_staff()
    page = load(EmailQuerySchema(), query)
    return paginate(uow.session, _filtered(page), page, ListedEmailSchema().dump)


def _email(uow: UnitOfWork, email_id: str) -> EmailLog:
    row = uow.session.get(EmailLog, email_id) if is_cuid(email_id) else None
    if row is None:
        raise NotFound("email not found", {"email_id": ["not found"]})
    return row


def get_email(uow: UnitOfWork, email_id: str) -> dict[str, Any]:
    """Staff: one email with both its parts."""
    require_staff()
    return EmailLogSchema().dump(_email(uow, email_id))


def resend_email(
    store: Transactions, send: Send, email_id: str, fresh_token: FreshToken
) -> dict[str, Any]:
    """Staff: send the email again, as a new row, audited. Answers the new row whatever
    the outcome: a failed attempt is FAILED there with its error (and may be resent)."""
    require_staff()
    with store.transaction() as uow:
        original = _email(uow, email_id)
        if original.status == EmailStatus.QUEUED:
            raise Conflict(
                "the email is still being sent; resend it once it is SENT or FAILED",
                {"email_id": ["queued"]},
            )
        if original.text_body is None or original.html_body is None:
            raise Conflict(
                "the email was logged before its content was kept: it cannot be resent",
                {"email_id": ["no stored content"]},
            )
    token = None
    if original.token_kind is not None and original.token_ref is not None:
        token = fresh_token(original.token_kind, original.token_ref)
        if token is None:
            raise Conflict(
                "the link in this email can no longer be issued (used, withdrawn or void)",
                {"email_id": ["link no longer valid"]},
            )
    with store.transaction() as uow:
        copy = EmailLog(
            id=cuid(),
            status=EmailStatus.QUEUED,
            attempts=0,
            resent_from_id=original.id,
            request_id=context.current().request_id,
            **{name: getattr(original, name) for name in REPEATED},
        )
        uow.session.add(copy)
        uow.audit(
            "email.resent",
            "EmailLog",
            copy.id,
            {"resent_from_id": original.id, "template": original.template, "to": original.to},
            organization_id=original.organization_id,
        )
    try:
        sent = deliver(store, send, copy, token)
    except (Undeliverable, *SEND_ERRORS):
        with store.transaction() as uow:
            sent = _email(uow, copy.id)
    return EmailLogSchema().dump(sent)
