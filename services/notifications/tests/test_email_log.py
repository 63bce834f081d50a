"""The email log: each email is QUEUED (committed) before it goes, then SENT or FAILED with
its error and attempt count; a failed send is retried after growing pauses; the log keeps
the request id that caused the email and what was sent (never a link's token). Staff list
and filter it, read one email and resend it (a new row, audited, with a fresh token)."""

from __future__ import annotations

import smtplib
from datetime import timedelta
from itertools import pairwise
from typing import Any
from unittest.mock import Mock

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from services.billing.events import BillingAccountOverdue
from services.identity.events import PasswordResetRequested
from services.notifications import schemas
from services.notifications.emails import TOKEN_WITHHELD, Undeliverable
from services.notifications.models import EmailLog, EmailStatus
from services.notifications.service import NotificationsService
from services.notifications.templates import TEMPLATES
from services.notifications.tests.helpers import BOOKKEEPER, OWNER, Store, identity
from shared import context, dead_letters
from shared.authorization import MemberRole
from shared.clock import utcnow
from shared.entrypoints import ReliableEventHandler
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.ids import cuid

REFUSED = ConnectionRefusedError(111, "Connection refused")


@pytest.fixture(autouse=True)
def app_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_URL", "https://app.cvt.test")


def caused_by(request_id: str) -> None:
    """Handlers run as SYSTEM with the request id of the event's signed headers."""
    context.bind(context.CallContext(request_id=request_id, actor_type=context.SYSTEM))


def staff(request_id: str = "req-staff") -> None:
    context.bind(
        context.CallContext(
            request_id=request_id, actor_type=context.USER, actor_id="staff-1", is_staff=True
        )
    )


def overdue(organization_id: str = "org-1") -> BillingAccountOverdue:
    return BillingAccountOverdue(billing_account_id=cuid(), organization_id=organization_id)


def reset(user_id: str | None = None) -> PasswordResetRequested:
    return PasswordResetRequested(user_id=user_id or cuid(), email="tendai@acme.co.zw")


def worker(unit_of_work: Any, mailer: Mock, ask: Mock | None = None) -> NotificationsService:
    if ask is None:
        ask = identity(OWNER, BOOKKEEPER)
        ask.issue_email_token.return_value = {
            "token": "tok-1", "email": "tendai@acme.co.zw", "name": "Tendai",
        }  # fmt: skip
    return worker_factory(
        NotificationsService, db=Store(unit_of_work), mailer=mailer, identity=ask, billing=Mock()
    )


def row_for(unit_of_work: Any, **where: str) -> EmailLog:
    with unit_of_work("notifications") as uow:
        statement = select(EmailLog).filter_by(**where).order_by(EmailLog.created_at.desc())
        row = uow.session.scalars(statement).first()
        uow.session.expunge(row)
        return row


# --- the lifecycle --------------------------------------------------------------------------


def test_the_row_is_queued_and_committed_before_the_email_goes(unit_of_work) -> None:
    event, seen = overdue(), []
    mailer = Mock()
    mailer.send.side_effect = lambda *args: seen.append(
        row_for(unit_of_work, entity_id=event.billing_account_id)
    )
    caused_by("req-overdue-1")

    worker(unit_of_work, mailer).send_overdue_warning(event.to_payload())

    [queued] = seen
    assert (queued.status, queued.attempts, queued.sent_at) == (EmailStatus.QUEUED, 0, None)
    sent = row_for(unit_of_work, event_id=event.event_id)
    assert (sent.status, sent.attempts, sent.error_message) == (EmailStatus.SENT, 1, None)
    assert sent.sent_at is not None
    assert (sent.request_id, sent.organization_id) == ("req-overdue-1", "org-1")
    assert sent.recipients == ["ops@acme.co.zw", "tendai@acme.co.zw", "rudo@acme.co.zw"]
    [(to, subject, text, html, _)] = [c.args for c in mailer.send.call_args_list]
    assert (to, subject, text, html) == (sent.to, sent.subject, sent.text_body, sent.html_body)
    assert html.startswith("<!DOCTYPE html>")


def test_a_failed_send_is_recorded_and_raised_and_the_retry_sends_it(unit_of_work) -> None:
    event, mailer = overdue(), Mock()
    mailer.send.side_effect = REFUSED
    service = worker(unit_of_work, mailer)

    with pytest.raises(ConnectionRefusedError):
        service.send_overdue_warning(event.to_payload())

    failed = row_for(unit_of_work, event_id=event.event_id)
    assert (failed.status, failed.attempts) == (EmailStatus.FAILED, 1)
    assert failed.error_message == "ConnectionRefusedError: [Errno 111] Connection refused"
    assert failed.failed_at is not None

    seen: list[EmailLog] = []
    mailer.send.side_effect = lambda *args: seen.append(row_for(unit_of_work, id=failed.id))
    service.send_overdue_warning(event.to_payload())  # the retry

    assert [(r.status, r.attempts) for r in seen] == [(EmailStatus.QUEUED, 1)]
    sent = row_for(unit_of_work, id=failed.id)
    assert (sent.status, sent.attempts, sent.error_message) == (EmailStatus.SENT, 2, None)
    # Every attempt is the same message to the mail systems: a send that SMTP accepted
    # but that was not recorded (a crash in between) is recognised as a duplicate.
    message_ids = {c.args[4] for c in mailer.send.call_args_list}
    assert message_ids == {f"<{failed.id}@cvt.co.zw>"}


def test_a_refusal_no_retry_can_mend_is_recorded_and_parked(unit_of_work) -> None:
    event, mailer = overdue(), Mock()
    mailer.send.side_effect = smtplib.SMTPRecipientsRefused({"x@acme.co.zw": (550, b"no")})

    with pytest.raises(Undeliverable):
        worker(unit_of_work, mailer).send_overdue_warning(event.to_payload())

    failed = row_for(unit_of_work, event_id=event.event_id)
    assert (failed.status, failed.attempts) == (EmailStatus.FAILED, 1)
    assert failed.error_message.startswith("SMTPRecipientsRefused")


def test_retries_of_a_failed_email_wait_longer_each_time_then_park(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What happens to the raised failure (`shared.dead_letters`): growing pauses, then a
    dead letter; a refusal (Undeliverable) is parked at once."""
    monkeypatch.delenv("RETRY_DELAYS_SECONDS", raising=False)
    delays = dead_letters.retry_delays()
    decisions = [dead_letters.decide(REFUSED, n, delays) for n in range(len(delays) + 1)]

    pauses = [d.delay for d in decisions[:-1]]
    assert pauses == delays == [2, 10, 60, 300, 900]
    assert all(a < b for a, b in pairwise(pauses))
    assert decisions[-1].parked
    assert dead_letters.decide(Undeliverable("refused"), 0, delays).parked
    handler = NotificationsService.send_overdue_warning
    assert all(isinstance(e, ReliableEventHandler) for e in handler.nameko_entrypoints)


def test_an_event_already_sent_sends_nothing_more(unit_of_work) -> None:
    event, mailer = overdue(), Mock()
    service = worker(unit_of_work, mailer)
    service.send_overdue_warning(event.to_payload())
    service.send_overdue_warning(event.to_payload())
    assert mailer.send.call_count == 1
    assert row_for(unit_of_work, event_id=event.event_id).attempts == 1


def test_the_log_keeps_a_links_token_withheld(unit_of_work) -> None:
    event, mailer = reset(), Mock()
    worker(unit_of_work, mailer).send_password_reset_email(event.to_payload())

    [(_, _, text, html, _)] = [c.args for c in mailer.send.call_args_list]
    assert "reset-password?token=tok-1" in text
    assert 'href="https://app.cvt.test/reset-password?token=tok-1"' in html
    logged = row_for(unit_of_work, event_id=event.event_id)
    assert "tok-1" not in logged.text_body + logged.html_body
    assert f"reset-password?token={TOKEN_WITHHELD}" in logged.text_body
    assert (logged.token_kind, logged.token_ref) == ("password-reset", event.user_id)


# --- staff: list, read, resend --------------------------------------------------------------


def sent_emails(unit_of_work: Any, request_id: str, *events: Any) -> list[EmailLog]:
    mailer = Mock()
    service = worker(unit_of_work, mailer)
    caused_by(request_id)
    for event in events:
        handler = (
            service.send_password_reset_email
            if isinstance(event, PasswordResetRequested)
            else service.send_overdue_warning
        )
        handler(event.to_payload())
    return [row_for(unit_of_work, event_id=event.event_id) for event in events]


def listed(service: NotificationsService, **query: str) -> dict[str, Any]:
    staff()
    return service.list_emails(query)


def test_staff_follow_a_request_id_to_the_emails_it_caused(unit_of_work) -> None:
    request_id = f"req-{cuid()}"
    rows = sent_emails(unit_of_work, request_id, overdue(), reset())
    sent_emails(unit_of_work, f"req-{cuid()}", overdue())  # another request
    service = worker(unit_of_work, Mock())

    page = listed(service, request_id=request_id)

    assert page["total"] == 2
    assert {item["id"] for item in page["items"]} == {row.id for row in rows}
    assert [item["created_at"] for item in page["items"]] == sorted(
        (item["created_at"] for item in page["items"]), reverse=True
    )
    assert all("text" not in item and "html" not in item for item in page["items"])
    assert {item["request_id"] for item in page["items"]} == {request_id}


def test_staff_filter_by_recipient_in_any_case_template_status_and_entity(unit_of_work) -> None:
    request_id = f"req-{cuid()}"
    event = overdue(organization_id=cuid())
    [row] = sent_emails(unit_of_work, request_id, event)
    service = worker(unit_of_work, Mock())

    def ids(**query: str) -> list[str]:
        return [item["id"] for item in listed(service, request_id=request_id, **query)["items"]]

    assert ids(recipient="Rudo@Acme.co.zw") == [row.id]
    assert ids(recipient="nobody@acme.co.zw") == []
    assert ids(template="account-overdue", status="SENT") == [row.id]
    assert ids(status="FAILED") == []
    assert ids(entity_type="BillingAccount", entity_id=event.billing_account_id) == [row.id]
    assert ids(organization_id=event.organization_id) == [row.id]
    today = utcnow().date()
    assert ids(**{"from": today.isoformat(), "to": today.isoformat()}) == [row.id]
    assert ids(**{"from": (today + timedelta(days=1)).isoformat()}) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "LOST"}, "status"),
        ({"template": "nope"}, "template"),
        ({"recipient": "not an address"}, "recipient"),
        ({"from": "2026-05-02", "to": "2026-05-01"}, "to"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_filter_is_refused_naming_it(unit_of_work, query: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        listed(worker(unit_of_work, Mock()), **query)
    assert field in refused.value.fields


def test_staff_read_one_email_with_both_parts(unit_of_work) -> None:
    [row] = sent_emails(unit_of_work, f"req-{cuid()}", reset())
    service = worker(unit_of_work, Mock())
    staff()

    email = service.get_email(row.id)

    assert (email["id"], email["status"], email["template"]) == (row.id, "SENT", "password-reset")
    assert email["text"] == row.text_body
    assert email["html"] == row.html_body
    assert TOKEN_WITHHELD in email["text"]
    assert "tok-1" not in str(email)
    with pytest.raises(NotFound) as missing:
        service.get_email(cuid())
    assert "email_id" in missing.value.fields
    with pytest.raises(NotFound):
        service.get_email("not-an-id")


def test_only_staff_read_or_resend_the_log(unit_of_work, as_user) -> None:
    service = worker(unit_of_work, Mock())
    with as_user("org-1", MemberRole.OWNER):
        with pytest.raises(Forbidden):
            service.list_emails({})
        with pytest.raises(Forbidden):
            service.get_email(cuid())
        with pytest.raises(Forbidden):
            service.resend_email(cuid())


def failed_email(unit_of_work: Any, event: Any, handler: str) -> tuple[EmailLog, Mock, Any]:
    mailer = Mock()
    mailer.send.side_effect = REFUSED
    service = worker(unit_of_work, mailer)
    caused_by(f"req-{cuid()}")
    with pytest.raises(ConnectionRefusedError):
        getattr(service, handler)(event.to_payload())
    return row_for(unit_of_work, event_id=event.event_id), mailer, service


def audit_rows(unit_of_work: Any, action: str, entity_id: str) -> list[Any]:
    with unit_of_work("notifications") as uow:
        audit = uow.tables.audit_log
        rows = uow.session.scalars(
            select(audit).where(audit.action == action, audit.entity_id == entity_id)
        ).all()
        uow.session.expunge_all()
        return list(rows)


def test_staff_resend_a_failed_email_once_smtp_is_back(unit_of_work) -> None:
    original, mailer, service = failed_email(unit_of_work, overdue(), "send_overdue_warning")
    mailer.send.side_effect = None
    staff("req-resend")

    resent = service.resend_email(original.id)

    assert resent["status"] == "SENT"
    assert (resent["resent_from_id"], resent["request_id"]) == (original.id, "req-resend")
    assert (resent["to"], resent["subject"]) == (original.to, original.subject)
    assert resent["event_id"] is None
    assert resent["attempts"] == 1
    mailer.send.assert_called_with(
        original.to, original.subject, original.text_body, original.html_body,
        f"<{resent['id']}@cvt.co.zw>",
    )  # fmt: skip
    # A resend is a new message: mail systems must not take it for the first one.
    [first_try] = [c.args for c in mailer.send.call_args_list[:1]]
    assert first_try[4] == f"<{original.id}@cvt.co.zw>"
    assert row_for(unit_of_work, id=original.id).status == EmailStatus.FAILED  # history kept
    [audited] = audit_rows(unit_of_work, "email.resent", resent["id"])
    assert (audited.organization_id, audited.actor_id, audited.request_id) == (
        "org-1", "staff-1", "req-resend",
    )  # fmt: skip
    assert audited.metadata_["resent_from_id"] == original.id


def test_a_resent_link_carries_a_fresh_token(unit_of_work) -> None:
    event = reset()
    original, mailer, service = failed_email(unit_of_work, event, "send_password_reset_email")
    mailer.send.side_effect = None
    service.identity.issue_email_token.return_value = {
        "token": "tok-2", "email": "tendai@acme.co.zw", "name": "Tendai",
    }  # fmt: skip
    staff()

    resent = service.resend_email(original.id)

    service.identity.issue_email_token.assert_called_with(event.user_id, "password-reset")
    [(_, _, text, _, _)] = [mailer.send.call_args.args]
    assert "reset-password?token=tok-2" in text
    assert "tok-2" not in str(service.get_email(resent["id"]))


def test_a_link_that_can_no_longer_be_issued_is_not_resent(unit_of_work) -> None:
    original, mailer, service = failed_email(unit_of_work, reset(), "send_password_reset_email")
    mailer.send.reset_mock()
    service.identity.issue_email_token.return_value = None  # the account is gone
    staff()

    with pytest.raises(Conflict) as refused:
        service.resend_email(original.id)

    assert "email_id" in refused.value.fields
    mailer.send.assert_not_called()


def test_a_resend_that_fails_answers_the_failed_row(unit_of_work) -> None:
    original, _, service = failed_email(unit_of_work, overdue(), "send_overdue_warning")
    staff()

    resent = service.resend_email(original.id)

    assert (resent["status"], resent["attempts"]) == ("FAILED", 1)
    assert resent["error_message"].startswith("ConnectionRefusedError")
    assert resent["resent_from_id"] == original.id


def test_an_email_still_queued_cannot_be_resent(unit_of_work) -> None:
    with unit_of_work("notifications") as uow:
        queued = EmailLog(
            id=cuid(), to="a@acme.co.zw", recipients=["a@acme.co.zw"], subject="S",
            template="account-overdue", text_body="t", html_body="h",
        )  # fmt: skip
        uow.session.add(queued)
    service = worker(unit_of_work, Mock())
    staff()

    with pytest.raises(Conflict) as refused:
        service.resend_email(queued.id)

    assert "email_id" in refused.value.fields
    service.mailer.send.assert_not_called()
    with pytest.raises(NotFound):
        service.resend_email(cuid())


def test_the_schemas_name_every_status_and_template() -> None:
    assert [status.value for status in EmailStatus] == schemas.STATUSES
    assert sorted(TEMPLATES) == schemas.TEMPLATE_NAMES
