"""Starting a Paynow payment for an invoice, by payment link or as a member, against the
simulator: what is stored before and after Paynow answers, one live attempt per invoice,
Paynow's refusals, and the rules on amount, method and phone."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import eventlet
import pytest
from sqlalchemy.exc import IntegrityError

from ops.processes import free_port
from services.payments import checkout
from services.payments.models import PaymentMethod, PaymentStatus
from services.payments.paynow import PaynowClient
from services.payments.tests.conftest import (
    MERCHANT,
    Acting,
    Invoice,
    ResultUrl,
    RunningSimulator,
    Store,
    add_payment,
    audit_actions,
    event_types_about,
    load_payment,
)
from shared import config
from shared.authorization import MemberRole
from shared.errors import Conflict, Forbidden, Gone, NotFound, Unavailable, ValidationFailed

ECOCASH = {"method": "ecocash", "phone": "0771111111"}


def pay(
    store: Store, client: PaynowClient, invoice: Invoice, data: dict[str, Any]
) -> dict[str, Any]:
    return checkout.start_checkout_by_token(store, client, invoice.token, data, invoice.link_of)


@pytest.fixture(autouse=True)
def _result_url(result_url: ResultUrl) -> None:
    """Status posts go to a receiver of this test run, never a gateway someone runs."""


def test_express_checkout_by_link_starts_paynow_and_keeps_what_it_answered(
    store: Store, client: PaynowClient, simulator: RunningSimulator, result_url: ResultUrl
) -> None:
    invoice = Invoice(amount_due=7_500)
    answer = pay(store, client, invoice, {"method": "ecocash", "phone": "+263 77 111 1111"})

    assert answer["created"] is True
    shown = answer["payment"]
    assert (shown["status"], shown["amount"], shown["method"]) == (
        "PENDING",
        7_500,
        "PAYNOW_ECOCASH",
    )
    assert shown["instructions"] and shown["browser_url"] is None
    assert "poll_url" not in shown
    payment = load_payment(shown["id"])
    assert (payment.organization_id, payment.invoice_number) == (
        invoice.organization_id,
        invoice.number,
    )
    assert payment.phone == "0771111111"
    assert payment.poll_url and payment.next_poll_at is not None
    assert audit_actions(payment.id) == ["payment.initiated", "payment.started"]
    sent = simulator.transaction(payment.id)  # our reference is the payment id
    assert payment.external_id == sent.paynow_reference
    assert sent.initiation.additionalinfo == f"Invoice {invoice.number}"
    assert sent.initiation.authemail == config.PAYNOW_AUTH_EMAIL.get()
    assert sent.initiation.resulturl == f"{result_url.base_url}/webhooks/paynow"
    back = urlsplit(sent.initiation.returnurl)
    assert back.path == f"/pay/{invoice.token}"
    assert parse_qs(back.query) == {"payment": [payment.id]}


def test_a_card_goes_to_paynows_page_with_the_payers_email(
    store: Store, client: PaynowClient, simulator: RunningSimulator
) -> None:
    invoice = Invoice()
    answer = pay(store, client, invoice, {"method": "visa", "email": "payer@example.co.zw"})
    shown = answer["payment"]
    assert shown["browser_url"].startswith(simulator.url)
    assert shown["method"] == "PAYNOW_VISA"
    assert simulator.transaction(shown["id"]).initiation.authemail == "payer@example.co.zw"


def test_starting_again_while_an_attempt_is_live_answers_that_attempt(
    store: Store, client: PaynowClient
) -> None:
    invoice = Invoice()
    first = pay(store, client, invoice, {"method": "visa"})
    again = pay(store, client, invoice, ECOCASH)
    assert (again["created"], again["payment"]["id"]) == (False, first["payment"]["id"])
    assert again["payment"]["method"] == "PAYNOW_VISA"


def test_payers_racing_to_start_get_one_attempt(store: Store, client: PaynowClient) -> None:
    invoice = Invoice()
    pool = eventlet.GreenPool()
    answers = list(pool.imap(lambda _: pay(store, client, invoice, {"method": "visa"}), range(4)))
    assert sorted(answer["created"] for answer in answers) == [False, False, False, True]
    assert len({answer["payment"]["id"] for answer in answers}) == 1


def test_a_start_that_missed_the_live_attempt_by_a_moment_still_answers_it(
    store: Store, client: PaynowClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race's window, held open: the look finds nothing, the insert meets the index."""
    invoice = Invoice()
    first = pay(store, client, invoice, {"method": "visa"})
    real, missed = checkout.live_attempt, []

    def look_once_too_early(uow: Any, invoice_id: str) -> Any:
        if not missed:
            missed.append(invoice_id)
            return None
        return real(uow, invoice_id)

    monkeypatch.setattr(checkout, "live_attempt", look_once_too_early)
    again = pay(store, client, invoice, {"method": "visa"})
    assert (again["created"], again["payment"]["id"]) == (False, first["payment"]["id"])
    assert missed == [invoice.id]


def test_the_database_refuses_a_second_live_attempt(store: Store) -> None:
    live = add_payment()
    with pytest.raises(IntegrityError):
        add_payment(invoice_id=live.invoice_id)
    add_payment(invoice_id=live.invoice_id, status=PaymentStatus.FAILED)  # ended ones may repeat


def test_paynows_refusal_fails_the_payment_with_its_reason(
    store: Store, client: PaynowClient
) -> None:
    invoice = Invoice()
    answer = pay(store, client, invoice, {"method": "ecocash", "phone": "0774444444"})
    shown = answer["payment"]
    assert answer["created"] is True
    assert (shown["status"], shown["error_message"]) == ("FAILED", "Insufficient balance")
    assert event_types_about(shown["id"]) == ["payment.failed"]
    # Nothing is live: the payer may try again, with another wallet.
    assert pay(store, client, invoice, ECOCASH)["created"] is True


def test_paynow_not_answering_leaves_the_attempt_pending_for_expiry(store: Store) -> None:
    invoice = Invoice()
    away = PaynowClient(
        f"http://127.0.0.1:{free_port()}", MERCHANT.integration_id, MERCHANT.integration_key
    )
    with pytest.raises(Unavailable) as unavailable:
        pay(store, away, invoice, ECOCASH)
    assert unavailable.value.retry_after == checkout.RETRY_AFTER_SECONDS
    again = pay(store, away, invoice, ECOCASH)
    assert again["created"] is False
    payment = load_payment(again["payment"]["id"])
    assert (payment.status, payment.poll_url) == (PaymentStatus.PENDING, None)
    assert "paynow.initiation_unanswered" in audit_actions(payment.id)


def test_part_of_the_amount_due_may_be_paid_but_never_more(
    store: Store, client: PaynowClient
) -> None:
    invoice = Invoice(amount_due=5_000)
    with pytest.raises(ValidationFailed) as refused:
        pay(store, client, invoice, {"method": "visa", "amount": 5_001})
    assert list(refused.value.fields) == ["amount"]
    for amount in (0, -5):
        with pytest.raises(ValidationFailed) as refused:
            pay(store, client, invoice, {"method": "visa", "amount": amount})
        assert list(refused.value.fields) == ["amount"]
    assert (
        pay(store, client, invoice, {"method": "visa", "amount": 1_234})["payment"]["amount"]
        == 1_234
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"method": "ecocash"}, "phone"),
        ({"method": "onemoney", "phone": "0123"}, "phone"),
        ({"method": "ecocash", "phone": "0241234567"}, "phone"),  # a landline
        ({"method": "visa", "phone": "0771111111"}, "phone"),
        ({"method": "bitcoin"}, "method"),
        ({"method": "visa", "email": "not an email"}, "email"),
        ({"method": "visa", "pollurl": "http://evil.test"}, "pollurl"),
    ],
)
def test_bad_checkout_requests_are_refused_naming_the_field(
    store: Store, client: PaynowClient, data: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        pay(store, client, Invoice(), data)
    assert field in refused.value.fields


@pytest.mark.parametrize(
    ("state", "error"), [("expired", Gone), ("paid", Conflict), ("void", Conflict)]
)
def test_links_that_cannot_be_paid_are_refused_naming_the_token(
    store: Store, client: PaynowClient, state: str, error: type[Exception]
) -> None:
    with pytest.raises(error) as refused:
        pay(store, client, Invoice(state=state), ECOCASH)
    assert list(refused.value.fields) == ["token"]


def test_an_unknown_token_is_not_found(store: Store, client: PaynowClient) -> None:
    invoice = Invoice()
    with pytest.raises(NotFound) as refused:
        checkout.start_checkout_by_token(store, client, "nope", ECOCASH, invoice.link_of)
    assert list(refused.value.fields) == ["token"]


# --- signed-in members ----------------------------------------------------------------------


def member_pays(
    store: Store, client: PaynowClient, invoice: Invoice, data: dict[str, Any]
) -> dict[str, Any]:
    return checkout.start_checkout(
        store, client, invoice.organization_id, invoice.id, data, invoice.invoice_of
    )


@pytest.mark.parametrize("role", [MemberRole.OWNER, MemberRole.ADMIN, MemberRole.BILLING])
def test_members_who_may_pay_invoices_start_a_payment(
    store: Store, client: PaynowClient, as_user: Acting, role: MemberRole
) -> None:
    invoice = Invoice(status="OVERDUE")
    with as_user(invoice.organization_id, role):
        answer = member_pays(store, client, invoice, ECOCASH)
    assert answer["created"] is True
    assert load_payment(answer["payment"]["id"]).organization_id == invoice.organization_id


def test_a_plain_member_may_not_pay(store: Store, client: PaynowClient, as_user: Acting) -> None:
    invoice = Invoice()
    with as_user(invoice.organization_id, MemberRole.MEMBER), pytest.raises(Forbidden):
        member_pays(store, client, invoice, ECOCASH)


def test_another_organizations_member_is_told_nothing(
    store: Store, client: PaynowClient, as_user: Acting
) -> None:
    invoice = Invoice()
    with as_user("c" + "x" * 24, MemberRole.OWNER), pytest.raises(NotFound) as refused:
        member_pays(store, client, invoice, ECOCASH)
    assert list(refused.value.fields) == ["organization_id"]


@pytest.mark.parametrize("status", ["PAID", "VOID"])
def test_members_cannot_pay_a_paid_or_void_invoice(
    store: Store, client: PaynowClient, as_user: Acting, status: str
) -> None:
    invoice = Invoice(status=status, amount_due=0 if status == "PAID" else 10_000)
    with as_user(invoice.organization_id, MemberRole.OWNER), pytest.raises(Conflict) as refused:
        member_pays(store, client, invoice, ECOCASH)
    assert list(refused.value.fields) == ["invoice_id"]


def test_the_member_route_returns_the_payer_to_the_invoices_pay_page(
    store: Store, client: PaynowClient, simulator: RunningSimulator, as_user: Acting
) -> None:
    invoice = Invoice()
    with as_user(invoice.organization_id, MemberRole.BILLING):
        shown = member_pays(store, client, invoice, {"method": "mastercard"})["payment"]
    returned = urlsplit(simulator.transaction(shown["id"]).initiation.returnurl)
    assert returned.path == f"/pay/{invoice.token}"


# --- what the pay page reads ----------------------------------------------------------------


def test_the_payment_link_describes_its_invoice_and_the_live_attempt(
    store: Store, client: PaynowClient
) -> None:
    invoice = Invoice(amount_due=3_000)
    before = checkout.describe_payment_link(store, invoice.token, invoice.link_of)
    assert (before["state"], before["live_payment"]) == ("payable", None)
    assert before["invoice"]["amount_due"] == 3_000
    assert set(before["invoice"]) == {
        "id",
        "invoice_number",
        "period_start",
        "period_end",
        "issued_at",
        "due_at",
        "total",
        "amount_paid",
        "amount_due",
        "status",
        "line_items",
    }
    assert set(before["invoice"]["line_items"][0]) == {
        "description",
        "quantity",
        "unit_price",
        "total",
    }
    started = pay(store, client, invoice, ECOCASH)["payment"]
    after = checkout.describe_payment_link(store, invoice.token, invoice.link_of)
    assert after["live_payment"] == started


def test_a_payment_is_shown_by_token_only_to_its_own_invoices_link(
    store: Store, client: PaynowClient
) -> None:
    invoice, other = Invoice(), Invoice()
    started = pay(store, client, invoice, ECOCASH)["payment"]
    shown = checkout.get_payment_by_token(store, invoice.token, started["id"], invoice.link_of)
    assert shown["id"] == started["id"]
    for payment_id in (started["id"], "not-a-payment"):
        with pytest.raises(NotFound) as refused:
            checkout.get_payment_by_token(store, other.token, payment_id, other.link_of)
        assert list(refused.value.fields) == ["payment_id"]


def test_checkout_methods_are_the_paynow_payment_methods() -> None:
    assert set(checkout.METHODS.values()) == {
        PaymentMethod.PAYNOW_ECOCASH,
        PaymentMethod.PAYNOW_ONEMONEY,
        PaymentMethod.PAYNOW_INNBUCKS,
        PaymentMethod.PAYNOW_VISA,
        PaymentMethod.PAYNOW_MASTERCARD,
    }
