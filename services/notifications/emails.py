"""Sending one email per event, whatever happens.

An event may arrive twice and the process may die at any line. The EmailLog row, keyed by
the event id, is QUEUED before the first attempt and makes a repeated event a no-op once its
email is SENT. A crash between handing the mail to SMTP and recording SENT can send it
twice: at least once beats never for a verification or reset link.

A failure the SMTP server may get over (connection refused, 4xx) is recorded on the row
(FAILED, the error, the attempt count) and raised: the event is retried after growing pauses
and finally parked as a dead letter (`shared.entrypoints`). A failure that no retry can
mend (a 5xx refusal, an address that cannot be written in a header) is recorded the same
way and parked at once.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from services.notifications.models import EmailLog, EmailStatus
from services.notifications.templates import TEMPLATES
from shared.clock import utcnow
from shared.errors import DomainError
from shared.ids import cuid
from shared.unit_of_work import Transactions

log = logging.getLogger(__name__)


class Undeliverable(DomainError):
    """No retry can send this email; the event is parked and the log row says why."""

    code, status = "undeliverable", 422


@dataclass(frozen=True)
class Email:
    template: str
    to: str
    values: dict[str, str]
    entity_type: str
    entity_id: str


def _log_row(store: Transactions, event_id: str) -> EmailLog | None:
    with store.transaction() as uow:
        return uow.session.scalar(select(EmailLog).where(EmailLog.event_id == event_id))


def _record_queued(store: Transactions, event_id: str, email: Email, subject: str) -> None:
    with store.transaction() as uow:
        uow.session.execute(
            insert(EmailLog)
            .values(
                id=cuid(),
                event_id=event_id,
                to=email.to,
                subject=subject,
                template=email.template,
                entity_type=email.entity_type,
                entity_id=email.entity_id,
                status=EmailStatus.QUEUED,
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=[EmailLog.event_id])
        )


def _record_attempt(store: Transactions, event_id: str, template: str, error: str | None) -> int:
    now = utcnow()
    status = EmailStatus.FAILED if error else EmailStatus.SENT
    with store.transaction() as uow:
        attempts = uow.session.scalar(
            update(EmailLog)
            .where(EmailLog.event_id == event_id)
            .values(
                status=status,
                sent_at=None if error else now,
                failed_at=now if error else None,
                error_message=error,
                attempts=EmailLog.attempts + 1,
            )
            .returning(EmailLog.attempts)
        )
        uow.audit(f"email.{status.value.lower()}", "EmailLog", event_id, {"template": template})
    return int(attempts or 0)


def is_permanent(exc: Exception) -> bool:
    """Refusals the server will repeat however often it is asked."""
    if isinstance(exc, ValueError | smtplib.SMTPRecipientsRefused | smtplib.SMTPNotSupportedError):
        return True
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


def send_once(
    store: Transactions,
    send: Callable[[str, str, str], None],
    event_id: str,
    compose: Callable[[], Email | None],
) -> None:
    """Send the email `compose()` describes for `event_id`, unless it was sent already.
    `compose` may return None when there is nothing to send any more."""
    previous = _log_row(store, event_id)
    if previous is not None and previous.status == EmailStatus.SENT:
        return
    email = compose()
    if email is None:
        log.info("event %s needs no email any more", event_id)
        return
    subject, body = TEMPLATES[email.template].render(email.values)
    _record_queued(store, event_id, email, subject)
    try:
        send(email.to, subject, body)
    except (smtplib.SMTPException, OSError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        attempts = _record_attempt(store, event_id, email.template, error)
        if is_permanent(exc):
            raise Undeliverable(f"{email.template} email to {email.to!r}: {error}") from exc
        log.warning("%s email for event %s failed (attempt %d): %s",
                    email.template, event_id, attempts, error)  # fmt: skip
        raise
    _record_attempt(store, event_id, email.template, None)
    log.info("sent %s email for %s %s", email.template, email.entity_type, email.entity_id)
