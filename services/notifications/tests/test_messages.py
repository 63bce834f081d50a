"""What each event's email says and whom it goes to; tokens are asked for right before."""

from __future__ import annotations

from typing import Any
from unittest.mock import Mock

import pytest

from services.billing.events import InvoiceIssued
from services.identity.events import SignUpAttempted
from services.notifications import messages
from services.notifications.emails import Email
from services.notifications.templates import TEMPLATES
from shared.errors import NotFound

ATTEMPT = SignUpAttempted(user_id="user-1", email="tendai@example.co.zw")
INVOICE = InvoiceIssued(
    invoice_id="inv-1",
    invoice_number="INV-2026-000042",
    organization_id="org-1",
    billing_account_id="acct-1",
    total=12_500,
    amount_due=10_000,
    due_at="2026-12-15T08:00:00+00:00",
)


@pytest.fixture(autouse=True)
def app_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_URL", "https://app.cvt.test")
    monkeypatch.setenv("PUBLIC_URL", "https://pay.cvt.test/")


def rendered(email: Email) -> tuple[str, str]:
    return TEMPLATES[email.template].render(email.values)


def identity_issuing(issued: dict[str, Any] | None) -> Mock:
    identity = Mock()
    identity.issue_email_token.return_value = issued
    identity.get_organization.return_value = {"name": "Acme Stores", "email": "ops@acme.co.zw"}
    return identity


def test_the_owner_of_a_taken_address_gets_a_warning_with_a_password_reset_link() -> None:
    identity = identity_issuing(
        {"token": "tok-123", "email": "tendai@example.co.zw", "name": "Tendai"}
    )
    email = messages.sign_up_attempted_email(identity, ATTEMPT)
    identity.issue_email_token.assert_called_once_with("user-1", "password-reset")
    assert (email.template, email.to, email.entity_type, email.entity_id) == (
        "sign-up-attempted", "tendai@example.co.zw", "User", "user-1",
    )  # fmt: skip
    subject, body = rendered(email)
    assert subject == "Someone tried to sign up with your email address"
    assert "Hello Tendai," in body
    assert "https://app.cvt.test/reset-password?token=tok-123" in body
    assert "Nothing has changed on your account" in body


def test_no_warning_once_the_account_is_gone() -> None:
    assert messages.sign_up_attempted_email(identity_issuing(None), ATTEMPT) is None


def test_the_invoice_email_asks_billing_for_the_payment_link_token() -> None:
    identity, billing = identity_issuing(None), Mock()
    billing.payment_token.return_value = "pay-tok"
    email = messages.invoice_email(identity, billing, INVOICE)
    billing.payment_token.assert_called_once_with("inv-1")
    identity.get_organization.assert_called_once_with("org-1")
    assert (email.template, email.to, email.entity_type, email.entity_id) == (
        "invoice-issued", "ops@acme.co.zw", "Invoice", "inv-1",
    )  # fmt: skip
    subject, body = rendered(email)
    assert subject == "Invoice INV-2026-000042 from CVT: USD 100.00 due by 2026-12-15"
    assert "Hello Acme Stores," in body
    assert "for USD 125.00" in body
    assert "https://pay.cvt.test/pay/pay-tok\n" in body
    assert "app.cvt.test" not in body


def test_without_a_public_url_the_pay_link_is_the_gateway_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PUBLIC_URL", "")
    monkeypatch.setenv("GATEWAY_ADDRESS", "127.0.0.1:8123")
    billing = Mock()
    billing.payment_token.return_value = "pay-tok"
    email = messages.invoice_email(identity_issuing(None), billing, INVOICE)
    assert "http://127.0.0.1:8123/pay/pay-tok\n" in rendered(email)[1]


def test_no_invoice_email_once_the_invoice_is_void() -> None:
    billing = Mock()
    billing.payment_token.return_value = None
    assert messages.invoice_email(identity_issuing(None), billing, INVOICE) is None


def test_no_organization_email_once_the_organization_is_deleted() -> None:
    identity, billing = identity_issuing(None), Mock()
    billing.payment_token.return_value = "pay-tok"
    identity.get_organization.side_effect = NotFound("organization org-1 not found")
    assert messages.invoice_email(identity, billing, INVOICE) is None
