"""What each event's email says and whom it goes to; tokens are asked for right before, and
never land in what the log keeps. Billing mail goes to the organization's address and its
OWNER and BILLING members, each address once."""

from __future__ import annotations

from typing import Any
from unittest.mock import Mock

import pytest

from services.billing.events import (
    BillingAccountOverdue,
    BillingAccountReactivated,
    BillingAccountSuspended,
    CreditIssued,
    InvoiceIssued,
    InvoiceVoided,
)
from services.identity.events import InvitationCreated, PasswordResetRequested, SignUpAttempted
from services.notifications import messages
from services.notifications.emails import TOKEN_WITHHELD, LinkToken
from services.notifications.templates import TEMPLATES
from services.notifications.tests.helpers import (
    BOOKKEEPER,
    OWNER,
    as_sent,
    contacts,
    identity,
    rendered,
)
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
CREDIT = CreditIssued(credit_id="cred-1", organization_id="org-1", amount=2_000)
VOIDED = InvoiceVoided(invoice_id="inv-1", organization_id="org-1")
REACTIVATED = BillingAccountReactivated(billing_account_id="acct-1", organization_id="org-1")


@pytest.fixture(autouse=True)
def app_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_URL", "https://app.cvt.test")
    monkeypatch.setenv("PUBLIC_URL", "https://pay.cvt.test/")


def identity_issuing(issued: dict[str, Any] | None) -> Mock:
    found = identity()
    found.issue_email_token.return_value = issued
    found.issue_invitation_token.return_value = issued
    return found


def billing(token: str | None = "pay-tok") -> Mock:
    found = Mock()
    found.payment_token.return_value = token
    found.get_invoice.return_value = {"invoice_number": "INV-2026-000042", "total": 12_500}
    return found


def test_the_owner_of_a_taken_address_gets_a_warning_with_a_password_reset_link() -> None:
    ask = identity_issuing({"token": "tok-123", "email": "tendai@example.co.zw", "name": "Tendai"})
    email = messages.sign_up_attempted_email(ask, ATTEMPT)
    ask.issue_email_token.assert_called_once_with("user-1", "password-reset")
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


@pytest.mark.parametrize(
    ("compose", "kind", "ref"),
    [
        (lambda ask: messages.sign_up_attempted_email(ask, ATTEMPT), "password-reset", "user-1"),
        (
            lambda ask: messages.password_reset_email(
                ask, PasswordResetRequested(user_id="u-2", email="a@acme.co.zw")
            ),
            "password-reset",
            "u-2",
        ),
        (
            lambda ask: messages.invitation_email(
                ask,
                InvitationCreated(
                    invitation_id="inv-9",
                    organization_id="org-1",
                    organization_name="Acme",
                    email="new@acme.co.zw",
                    role="MEMBER",
                ),
            ),
            "invitation",
            "inv-9",
        ),
    ],
)
def test_a_links_token_is_withheld_from_what_is_rendered_for_the_log(
    compose: Any, kind: str, ref: str
) -> None:
    ask = identity_issuing({"token": "secret-tok", "email": "a@acme.co.zw", "name": None})
    email = compose(ask)

    assert email.token == LinkToken(kind, ref, "secret-tok")
    logged = TEMPLATES[email.template].render(email.values)
    for part in (logged.text, logged.html):
        assert "secret-tok" not in part
        assert TOKEN_WITHHELD in part
    sent = as_sent(email)
    assert "token=secret-tok" in sent.text
    assert 'href="https://app.cvt.test/' in sent.html
    assert "secret-tok" in sent.html


def test_the_invoice_email_goes_to_the_organization_and_its_billing_people() -> None:
    ask, ask_billing = identity(OWNER, BOOKKEEPER), billing()
    email = messages.invoice_email(ask, ask_billing, INVOICE)

    ask_billing.payment_token.assert_called_once_with("inv-1")
    ask.billing_contacts.assert_called_once_with("org-1")
    assert email.recipients == ("ops@acme.co.zw", "tendai@acme.co.zw", "rudo@acme.co.zw")
    assert email.to == "ops@acme.co.zw, tendai@acme.co.zw, rudo@acme.co.zw"
    assert (email.template, email.entity_type, email.entity_id, email.organization_id) == (
        "invoice-issued", "Invoice", "inv-1", "org-1",
    )  # fmt: skip
    assert email.token == LinkToken("payment-link", "inv-1", "pay-tok")
    subject, body = rendered(email)
    assert subject == "Invoice INV-2026-000042 from CVT: USD 100.00 due by 2026-12-15"
    assert "Hello Acme Stores," in body
    assert "for USD 125.00" in body
    assert "https://pay.cvt.test/pay/pay-tok\n" in body
    assert "app.cvt.test" not in body


def test_an_address_that_is_both_the_organizations_and_a_members_gets_one_copy() -> None:
    ask = identity(OWNER, {**BOOKKEEPER, "email": "OPS@acme.co.zw"}, OWNER)
    email = messages.overdue_warning(
        ask, BillingAccountOverdue(billing_account_id="acct-1", organization_id="org-1")
    )
    assert email.recipients == ("ops@acme.co.zw", "tendai@acme.co.zw")


def test_without_members_billing_mail_goes_to_the_organization_address_alone() -> None:
    email = messages.invoice_email(identity(), billing(), INVOICE)
    assert email.recipients == ("ops@acme.co.zw",)


def test_without_a_public_url_the_pay_link_is_the_gateway_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PUBLIC_URL", "")
    monkeypatch.setenv("GATEWAY_ADDRESS", "127.0.0.1:8123")
    email = messages.invoice_email(identity(), billing(), INVOICE)
    assert "http://127.0.0.1:8123/pay/pay-tok\n" in rendered(email)[1]


def test_no_invoice_email_once_the_invoice_is_void() -> None:
    assert messages.invoice_email(identity(), billing(None), INVOICE) is None


@pytest.mark.parametrize(
    "compose",
    [
        lambda ask: messages.invoice_email(ask, billing(), INVOICE),
        lambda ask: messages.credit_email(ask, CREDIT),
        lambda ask: messages.voided_invoice_email(ask, billing(), VOIDED),
        lambda ask: messages.reactivation_notice(ask, REACTIVATED),
        lambda ask: messages.suspension_notice(
            ask, BillingAccountSuspended(billing_account_id="acct-1", organization_id="org-1")
        ),
    ],
)
def test_no_billing_email_once_the_organization_is_deleted(compose: Any) -> None:
    gone = identity()
    gone.billing_contacts.side_effect = NotFound("organization org-1 not found")
    assert compose(gone) is None


def test_a_reactivated_account_hears_its_services_are_active_again() -> None:
    email = messages.reactivation_notice(identity(OWNER), REACTIVATED)

    assert (email.template, email.entity_type, email.entity_id) == (
        "account-reactivated", "BillingAccount", "acct-1",
    )  # fmt: skip
    assert email.recipients == ("ops@acme.co.zw", "tendai@acme.co.zw")
    subject, body = rendered(email)
    assert subject == "Your CVT services are active again"
    assert "Hello Acme Stores," in body
    assert "services are active" in body
    assert "https://app.cvt.test/invoices\n" in body


def test_an_issued_credit_names_its_amount() -> None:
    email = messages.credit_email(identity(BOOKKEEPER), CREDIT)

    assert (email.template, email.entity_type, email.entity_id, email.organization_id) == (
        "credit-issued", "Credit", "cred-1", "org-1",
    )  # fmt: skip
    assert email.recipients == ("ops@acme.co.zw", "rudo@acme.co.zw")
    subject, body = rendered(email)
    assert subject == "CVT credited USD 20.00 to your account"
    assert "a credit of USD 20.00" in body
    assert "used on your next invoices" in body


def test_a_voided_invoice_is_named_with_the_number_billing_gives() -> None:
    ask_billing = billing()
    email = messages.voided_invoice_email(identity(OWNER), ask_billing, VOIDED)

    ask_billing.get_invoice.assert_called_once_with("org-1", "inv-1")
    assert (email.template, email.entity_type, email.entity_id) == (
        "invoice-voided", "Invoice", "inv-1",
    )  # fmt: skip
    subject, body = rendered(email)
    assert subject == "Invoice INV-2026-000042 is void"
    assert "Invoice INV-2026-000042 for USD 125.00 is void" in body
    assert email.token is None


def test_no_void_email_when_billing_no_longer_knows_the_invoice() -> None:
    ask_billing = billing()
    ask_billing.get_invoice.side_effect = NotFound("invoice not found")
    assert messages.voided_invoice_email(identity(OWNER), ask_billing, VOIDED) is None


def test_billing_contacts_without_any_address_send_nothing() -> None:
    ask = identity()
    ask.billing_contacts.return_value = contacts(
        organization={"id": "org-1", "name": "A", "email": ""}
    )
    assert messages.credit_email(ask, CREDIT) is None


@pytest.mark.parametrize(
    ("kind", "asked"),
    [
        ("email-verification", "issue_email_token"),
        ("password-reset", "issue_email_token"),
        ("invitation", "issue_invitation_token"),
    ],
)
def test_a_resend_asks_identity_for_a_fresh_token(kind: str, asked: str) -> None:
    ask = identity_issuing({"token": "fresh", "email": "a@acme.co.zw", "name": None})
    assert messages.fresh_token(ask, billing(), kind, "ref-1") == "fresh"
    getattr(ask, asked).assert_called_once()
    assert messages.fresh_token(identity_issuing(None), billing(), kind, "ref-1") is None


def test_a_resend_asks_billing_for_a_fresh_payment_link_token() -> None:
    ask_billing = billing("pay-2")
    assert messages.fresh_token(identity(), ask_billing, "payment-link", "inv-1") == "pay-2"
    ask_billing.payment_token.assert_called_once_with("inv-1")
