"""Sending one email per event, whatever happens, and keeping what was sent.

An event may arrive twice and the process may die at any line. The EmailLog row, keyed by
the event id, is committed QUEUED before each attempt and makes a repeated event a no-op
once its email is SENT. A crash between handing the mail to SMTP and recording SENT leaves
it QUEUED and can send it twice: at least once beats never for a verification or reset link.

A failure the SMTP server may get over (connection refused, 4xx) is recorded on the row
(FAILED, the error, the attempt count) and raised: `shared.entrypoints` hands the event to
`shared.dead_letters`, which retries it after each pause of RETRY_DELAYS_SECONDS in turn
(2 s, 10 s, 1 min, 5 min, 15 min by default: growing, each in a retry queue of its own, so
the events behind it flow on meanwhile) and then parks it as a dead letter. Each retry
queues the row again and counts one more attempt. A failure that no retry can mend (a 5xx
refusal, an address that cannot be written in a header) is recorded the same way and parked
at once. A FAILED row stays for staff to resend (`email_log`).

Tokens of emailed links (password reset, verification, invitation, payment link) are asked
right before sending and exist in plain text only in the email itself: the stored parts hold
`TOKEN_WITHHELD` where the token goes, the token is put in just before the parts go to SMTP,
and a resend asks for a fresh one.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from services.notifications.models import EmailLog, EmailStatus
from services.notifications.templates import TEMPLATES, Rendered, Values
from shared import context
from shared.clock import utcnow
from shared.errors import DomainError
from shared.ids import cuid
from shared.unit_of_work import Transactions

log = logging.getLogger(__name__)

# Where an emailed link's token goes, in the stored parts: URL- and HTML-safe as it is.
TOKEN_WITHHELD = "__token_withheld__"
# The SMTP mailer's send: (To header, subject, plain text, HTML, Message-ID).
Send = Callable[[str, str, str, str, str], None]
MESSAGE_ID_DOMAIN = "cvt.co.zw"


def message_id(row_id: str) -> str:
    """One Message-ID per email log row, the same on every attempt: if notifications dies
    between SMTP accepting a message and the row becoming SENT, the retry is the same
    message to the mail systems that drop a Message-ID they already hold. A staff resend
    is a new row, so a new message."""
    return f"<{row_id}@{MESSAGE_ID_DOMAIN}>"


# What a send raises when the email did not go: recorded on the row, then raised.
SEND_ERRORS = (smtplib.SMTPException, OSError, ValueError)


class Undeliverable(DomainError):
    """No retry can send this email; the event is parked and the log row says why."""

    code, status = "undeliverable", 422


@dataclass(frozen=True)
class LinkToken:
    """The token an emailed link carries. `kind` and `ref` say how to ask for a fresh one
    (`kind`: an identity email-token purpose, "invitation" or "payment-link"; `ref`: the
    user, invitation or invoice); `value` is never stored."""

    kind: str
    ref: str
    value: str = field(repr=False)


@dataclass(frozen=True)
class Email:
    """What to send. Links carrying a token are built with TOKEN_WITHHELD in `values`;
    the token itself is `token`."""

    template: str
    recipients: tuple[str, ...]
    values: Values
    entity_type: str
    entity_id: str
    organization_id: str | None = None
    token: LinkToken | None = None

    @property
    def to(self) -> str:
        return ", ".join(self.recipients)


def unique_addresses(addresses: Iterable[str | None]) -> tuple[str, ...]:
    """Each address once (compared without case), in the order first given; blanks out."""
    seen: dict[str, str] = {}
    for address in addresses:
        address = (address or "").strip()
        if address and address.lower() not in seen:
            seen[address.lower()] = address
    return tuple(seen.values())


def with_token(part: str, token: str | None) -> str:
    """A stored part as it is sent: the token in place of TOKEN_WITHHELD."""
    return part if token is None else part.replace(TOKEN_WITHHELD, quote(token, safe=""))


def _log_row(store: Transactions, event_id: str) -> EmailLog | None:
    with store.transaction() as uow:
        return uow.session.scalar(select(EmailLog).where(EmailLog.event_id == event_id))


def _content(email: Email, rendered: Rendered) -> dict[str, object]:
    return {
        "to": email.to,
        "recipients": [address.lower() for address in email.recipients],
        "subject": rendered.subject,
        "template": email.template,
        "entity_type": email.entity_type,
        "entity_id": email.entity_id,
        "organization_id": email.organization_id,
        "text_body": rendered.text,
        "html_body": rendered.html,
        "token_kind": email.token.kind if email.token else None,
        "token_ref": email.token.ref if email.token else None,
    }


def _record_queued(store: Transactions, event_id: str, email: Email, rendered: Rendered) -> str:
    """The row, QUEUED with what is about to be sent, committed; its id. A retried event
    queues its row again: the content is composed afresh (a new token, a changed name),
    the attempts and last error so far stay."""
    content = _content(email, rendered)
    with store.transaction() as uow:
        return uow.session.scalar(
            insert(EmailLog)
            .values(
                id=cuid(),
                event_id=event_id,
                request_id=context.current().request_id,
                status=EmailStatus.QUEUED,
                attempts=0,
                **content,
            )
            .on_conflict_do_update(
                index_elements=[EmailLog.event_id],
                set_={"status": EmailStatus.QUEUED, **content},
            )
            .returning(EmailLog.id)
        )


def record_attempt(store: Transactions, row_id: str, error: str | None) -> EmailLog:
    """SENT, or FAILED with `error`; one more attempt; audited. The row as it now is."""
    now = utcnow()
    status = EmailStatus.FAILED if error else EmailStatus.SENT
    changes = {"status": status, "attempts": EmailLog.attempts + 1, "error_message": error}
    changes |= {"failed_at": now} if error else {"sent_at": now}
    with store.transaction() as uow:
        row = uow.session.scalars(
            update(EmailLog).where(EmailLog.id == row_id).values(**changes).returning(EmailLog)
        ).one()
        uow.audit(
            f"email.{status.value.lower()}",
            "EmailLog",
            row.id,
            {"template": row.template, "attempts": row.attempts},
            organization_id=row.organization_id,
        )
        return row


def is_permanent(exc: Exception) -> bool:
    """Refusals the server will repeat however often it is asked."""
    if isinstance(exc, ValueError | smtplib.SMTPRecipientsRefused | smtplib.SMTPNotSupportedError):
        return True
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


def deliver(store: Transactions, send: Send, row: EmailLog, token: str | None) -> EmailLog:
    """Hand the QUEUED `row` to SMTP and record the outcome. A failure is raised (after it
    is recorded): `Undeliverable` when no retry can mend it."""
    try:
        send(
            row.to,
            row.subject,
            with_token(row.text_body or "", token),
            with_token(row.html_body or "", token),
            message_id(row.id),
        )
    except SEND_ERRORS as exc:
        error = f"{type(exc).__name__}: {exc}"
        failed = record_attempt(store, row.id, error)
        if is_permanent(exc):
            raise Undeliverable(f"{row.template} email to {row.to!r}: {error}") from exc
        log.warning("%s email %s failed (attempt %d): %s",
                    row.template, row.id, failed.attempts, error)  # fmt: skip
        raise
    sent = record_attempt(store, row.id, None)
    log.info("sent %s email %s for %s %s", row.template, row.id, row.entity_type, row.entity_id)
    return sent


def send_once(
    store: Transactions, send: Send, event_id: str, compose: Callable[[], Email | None]
) -> None:
    """Send the email `compose()` describes for `event_id`, unless it was sent already.
    `compose` may return None when there is nothing to send any more. The row records the
    request id of the call context: for an event, the request that caused it."""
    previous = _log_row(store, event_id)
    if previous is not None and previous.status == EmailStatus.SENT:
        return
    email = compose()
    if email is None:
        log.info("event %s needs no email any more", event_id)
        return
    rendered = TEMPLATES[email.template].render(email.values)
    row_id = _record_queued(store, event_id, email, rendered)
    with store.transaction() as uow:
        row = uow.session.get_one(EmailLog, row_id)
    deliver(store, send, row, email.token.value if email.token else None)
