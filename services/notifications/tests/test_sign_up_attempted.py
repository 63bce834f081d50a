"""The email to the owner of an address someone tried to sign up with."""

from __future__ import annotations

from typing import Any

import pytest
from nameko.testing.services import worker_factory

from services.notifications import service as notifications
from services.notifications.emails import Email
from services.notifications.templates import TEMPLATES


def composed(monkeypatch: pytest.MonkeyPatch, issued: dict[str, Any] | None) -> tuple:
    """What the handler would send for a `user.sign_up_attempted` event, with identity
    answering `issued`; and how identity was asked."""
    worker = worker_factory(notifications.NotificationsService)
    worker.identity.issue_email_token.return_value = issued
    sent: list[Email | None] = []
    monkeypatch.setattr(
        notifications, "send_once", lambda store, send, event_id, compose: sent.append(compose())
    )
    worker.send_sign_up_attempted_email(
        {"event_id": "evt-1", "user_id": "user-1", "email": "tendai@example.co.zw"}
    )
    return sent[0], worker.identity.issue_email_token.call_args.args


def test_the_owner_gets_a_warning_with_a_password_reset_link(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APP_URL", "https://app.cvt.test")
    issued = {"token": "tok-123", "email": "tendai@example.co.zw", "name": "Tendai"}
    email, asked = composed(monkeypatch, issued)
    assert asked == ("user-1", "password-reset")
    assert (email.template, email.to, email.entity_type, email.entity_id) == (
        "sign-up-attempted", "tendai@example.co.zw", "User", "user-1",
    )  # fmt: skip
    subject, body = TEMPLATES[email.template].render(email.values)
    assert subject == "Someone tried to sign up with your email address"
    assert "Hello Tendai," in body
    assert "https://app.cvt.test/reset-password?token=tok-123" in body
    assert "Nothing has changed on your account" in body


def test_no_email_once_the_account_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    email, _ = composed(monkeypatch, None)
    assert email is None
