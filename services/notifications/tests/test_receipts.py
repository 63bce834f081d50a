"""A receipt for every payment billing counts (partial ones too, and payments on account):
what was paid and how, what remains due with the link to pay it, and credit added. Sent
once per `payment.applied`; `invoice.paid` sends nothing more."""

from __future__ import annotations

from dataclasses import replace
from unittest.mock import Mock

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from services.billing.events import PaymentApplied
from services.notifications import messages
from services.notifications.emails import TOKEN_WITHHELD, Email
from services.notifications.models import EmailLog, EmailStatus
from services.notifications.service import NotificationsService
from services.notifications.tests.helpers import OWNER, Store, handled_events, identity, rendered
from shared.errors import NotFound
from shared.ids import cuid

PARTIAL = PaymentApplied(
    payment_id="pay-1",
    invoice_id="inv-1",
    invoice_number="INV-2026-000042",
    organization_id="org-1",
    method="PAYNOW_ECOCASH",
    amount=4_000,
    applied=4_000,
    credited=0,
    amount_due=6_000,
    invoice_status="PARTIAL",
)
PAID_IN_FULL = replace(PARTIAL, amount_due=0, invoice_status="PAID")
OVER_PAID = replace(PAID_IN_FULL, amount=7_500, applied=6_000, credited=1_500)
ON_ACCOUNT = PaymentApplied(
    payment_id="pay-2",
    organization_id="org-1",
    method="BANK_TRANSFER",
    amount=2_500,
    applied=0,
    credited=2_500,
    amount_due=0,
)


@pytest.fixture(autouse=True)
def public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_URL", "https://pay.cvt.test")


def billing(token: str | None = "pay-tok") -> Mock:
    found = Mock()
    found.payment_token.return_value = token
    return found


def receipt(event: PaymentApplied, billing_rpc: Mock | None = None) -> tuple[Email, str, str]:
    email = messages.receipt_email(identity(), billing_rpc or billing(), event)
    subject, body = rendered(email)
    return email, subject, body


def test_a_partial_payment_receipt_names_what_remains_and_links_the_pay_page() -> None:
    ask = billing()
    email, subject, body = receipt(PARTIAL, ask)

    ask.payment_token.assert_called_once_with("inv-1")
    assert (email.template, email.to, email.entity_type, email.entity_id) == (
        "payment-receipt", "ops@acme.co.zw", "Payment", "pay-1",
    )  # fmt: skip
    assert subject == "Receipt: USD 40.00 paid on invoice INV-2026-000042"
    assert "Hello Acme Stores," in body
    assert "Amount paid: USD 40.00\nMethod: EcoCash\nInvoice: INV-2026-000042\n" in body
    assert "USD 60.00 remains due on invoice INV-2026-000042." in body
    assert "https://pay.cvt.test/pay/pay-tok\n" in body
    assert "paid in full" not in body
    assert "Credit added" not in body


def test_without_a_token_the_partial_receipt_has_no_link() -> None:
    """The invoice was voided meanwhile: billing has no link to give."""
    _, _, body = receipt(PARTIAL, billing(None))

    assert "USD 60.00 remains due" in body
    assert "/pay/" not in body
    assert "Pay the rest" not in body


def test_a_receipt_for_the_last_payment_says_paid_in_full_without_a_link() -> None:
    ask = billing()
    _, subject, body = receipt(PAID_IN_FULL, ask)

    ask.payment_token.assert_not_called()
    assert "INV-2026-000042" in subject
    assert "Invoice INV-2026-000042 is paid in full." in body
    assert "remains due" not in body
    assert "/pay/" not in body


def test_an_over_payment_receipt_names_the_credit_added() -> None:
    _, _, body = receipt(OVER_PAID)

    assert "Amount paid: USD 75.00" in body
    assert "is paid in full" in body
    assert "Credit added: USD 15.00" in body


def test_a_payment_of_a_void_invoice_is_not_called_paid_in_full() -> None:
    void = replace(PARTIAL, applied=0, credited=4_000, amount_due=0, invoice_status="VOID")
    _, _, body = receipt(void)

    assert "Invoice INV-2026-000042 is void" in body
    assert "paid in full" not in body
    assert "Credit added: USD 40.00" in body


def test_a_payment_on_account_receipt_names_the_credit() -> None:
    ask = billing()
    email, subject, body = receipt(ON_ACCOUNT, ask)

    ask.payment_token.assert_not_called()
    assert (email.template, email.entity_type, email.entity_id) == (
        "payment-on-account-receipt",
        "Payment",
        "pay-2",
    )
    assert subject == "Receipt: USD 25.00 paid to your CVT account"
    assert "Method: bank transfer\nCredit added: USD 25.00\n" in body
    assert "Invoice" not in body


@pytest.mark.parametrize(
    ("method", "words"),
    [
        ("PAYNOW_ECOCASH", "EcoCash"),
        ("PAYNOW_ONEMONEY", "OneMoney"),
        ("PAYNOW_INNBUCKS", "InnBucks"),
        ("PAYNOW_VISA", "Visa"),
        ("PAYNOW_MASTERCARD", "Mastercard"),
        ("BANK_TRANSFER", "bank transfer"),
        ("CASH", "cash"),
        ("CREDIT", "account credit"),
        ("SOMETHING_NEW", "something new"),
    ],
)
def test_a_receipt_names_the_method_in_words(method: str, words: str) -> None:
    _, _, body = receipt(replace(PARTIAL, method=method))
    assert f"Method: {words}\n" in body


def test_no_receipt_once_the_organization_is_deleted() -> None:
    gone = identity()
    gone.billing_contacts.side_effect = NotFound("organization org-1 not found")
    assert messages.receipt_email(gone, billing(), PARTIAL) is None


# --- the handler ----------------------------------------------------------------------------


def test_receipts_follow_payment_applied_not_invoice_paid() -> None:
    handled = handled_events(NotificationsService)
    assert ("billing", "payment.applied") in handled
    assert ("billing", "invoice.paid") not in handled


def test_each_payment_applied_sends_one_receipt_even_delivered_twice(unit_of_work) -> None:
    mailer, event = Mock(), replace(PARTIAL, event_id=cuid(), payment_id=cuid())
    worker = worker_factory(
        NotificationsService,
        db=Store(unit_of_work),
        mailer=mailer,
        identity=identity(OWNER),
        billing=billing(),
    )

    worker.send_receipt_email(event.to_payload())
    worker.send_receipt_email(event.to_payload())

    [(to, subject, text, html, _)] = [c.args for c in mailer.send.call_args_list]
    assert to == "ops@acme.co.zw, tendai@acme.co.zw"
    assert subject == "Receipt: USD 40.00 paid on invoice INV-2026-000042"
    assert "https://pay.cvt.test/pay/pay-tok" in text
    assert '<a href="https://pay.cvt.test/pay/pay-tok">' in html
    with unit_of_work("notifications") as uow:
        row = uow.session.scalar(select(EmailLog).where(EmailLog.event_id == event.event_id))
        assert (row.status, row.template, row.entity_type, row.entity_id, row.attempts) == (
            EmailStatus.SENT,
            "payment-receipt",
            "Payment",
            event.payment_id,
            1,
        )
        assert row.recipients == ["ops@acme.co.zw", "tendai@acme.co.zw"]
        assert (row.organization_id, row.token_kind, row.token_ref) == (
            "org-1", "payment-link", "inv-1",
        )  # fmt: skip
        # The log keeps the receipt without the pay link's token.
        assert "pay-tok" not in row.text_body + row.html_body
        assert f"https://pay.cvt.test/pay/{TOKEN_WITHHELD}" in row.text_body
