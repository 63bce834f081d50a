"""Sending one email per event, whatever happens.

An event may arrive twice and the process may die at any line. The EmailLog row, keyed by
the event id, makes a repeated event a no-op once its email is SENT. A crash between
handing the mail to SMTP and recording SENT can send it twice: at least once beats never
for a verification or reset link. SMTP failures are recorded and retried with growing pauses (the
event goes back to its queue) up to MAX_ATTEMPTS, then the row stays FAILED for ops to see.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.notifications.models import EmailLog, EmailStatus
from services.notifications.templates import TEMPLATES
from shared.clock import utcnow
from shared.dependencies import Store
from shared.ids import cuid

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 20
MAX_BACKOFF_SECONDS = 60


@dataclass(frozen=True)
class Email:
    template: str
    to: str
    values: dict[str, str]
    entity_type: str
    entity_id: str


def _log_row(store: Store, event_id: str) -> EmailLog | None:
    with store.transaction() as uow:
        return uow.session.scalar(select(EmailLog).where(EmailLog.event_id == event_id))


def _record(store: Store, event_id: str, email: Email, subject: str, error: str | None) -> int:
    now = utcnow()
    status = EmailStatus.FAILED if error else EmailStatus.SENT
    values = {
        "status": status,
        "sent_at": None if error else now,
        "failed_at": now if error else None,
        "error_message": error,
    }
    with store.transaction() as uow:
        statement = insert(EmailLog).values(
            id=cuid(),
            event_id=event_id,
            to=email.to,
            subject=subject,
            template=email.template,
            entity_type=email.entity_type,
            entity_id=email.entity_id,
            attempts=1,
            **values,
        )
        attempts = uow.session.scalar(
            statement.on_conflict_do_update(
                index_elements=[EmailLog.event_id],
                set_={**values, "attempts": EmailLog.attempts + 1},
            ).returning(EmailLog.attempts)
        )
        uow.audit(
            f"email.{status.value.lower()}", "EmailLog", event_id, {"template": email.template}
        )
    return attempts


def send_once(
    store: Store,
    send: Callable[[str, str, str], None],
    event_id: str,
    compose: Callable[[], Email | None],
) -> None:
    """Send the email `compose()` describes for `event_id`, unless it was sent already.
    `compose` may return None when there is nothing to send any more."""
    previous = _log_row(store, event_id)
    if previous is not None and (
        previous.status == EmailStatus.SENT or previous.attempts >= MAX_ATTEMPTS
    ):
        return
    email = compose()
    if email is None:
        log.info("event %s needs no email any more", event_id)
        return
    subject, body = TEMPLATES[email.template].render(email.values)
    try:
        send(email.to, subject, body)
    except (smtplib.SMTPException, OSError) as exc:
        attempts = _record(store, event_id, email, subject, f"{type(exc).__name__}: {exc}")
        if attempts >= MAX_ATTEMPTS:
            log.error(
                "giving up on %s email for event %s after %d attempts",
                email.template,
                event_id,
                attempts,
            )
            return
        raise
    _record(store, event_id, email, subject, None)
    log.info("sent %s email for %s %s", email.template, email.entity_type, email.entity_id)
