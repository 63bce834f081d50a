"""Staff's bank transfers and cash (only against the organization's payable invoices, or
explicitly on account), credit applied by billing recorded as CREDIT payments, and who
sees which payments in the lists."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest

from services.billing.events import CreditApplied
from services.payments import listing, manual
from services.payments.models import PaymentMethod, PaymentStatus
from services.payments.tests.conftest import (
    Acting,
    Invoice,
    Store,
    add_payment,
    event_types_about,
    events_about,
    hours_ago,
    load_payment,
)
from shared.authorization import MemberRole
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.ids import cuid


def record(store: Store, invoice: Invoice, data: dict[str, Any], organization_id: str = "") -> dict:
    return manual.record_manual_payment(
        store,
        organization_id or invoice.organization_id,
        data,
        invoice.invoice_of,
        invoice.account_of,
    )


def test_staff_record_a_transfer_against_a_payable_invoice(store: Store, as_user: Acting) -> None:
    invoice = Invoice(status="PARTIAL")
    with as_user(is_staff=True):
        shown = record(
            store,
            invoice,
            {
                "invoice_id": invoice.id,
                "amount": 2_000,
                "method": "BANK_TRANSFER",
                "reference": "FT-1",
            },
        )
    assert (shown["status"], shown["invoice_number"], shown["reference"]) == (
        "PAID",
        invoice.number,
        "FT-1",
    )
    assert (shown["organization_id"], shown["paynow_status"]) == (invoice.organization_id, None)
    [(event_type, payload)] = events_about(shown["id"])
    assert (event_type, payload["invoice_id"], payload["amount"]) == (
        "payment.paid",
        invoice.id,
        2_000,
    )


def test_money_on_account_is_explicit_and_has_no_invoice(store: Store, as_user: Acting) -> None:
    invoice = Invoice()
    with as_user(is_staff=True):
        shown = record(store, invoice, {"on_account": True, "amount": 500, "method": "CASH"})
    assert (shown["invoice_id"], shown["billing_account_id"]) == (None, invoice.billing_account_id)
    [(_, payload)] = events_about(shown["id"])
    assert payload["invoice_id"] is None


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"amount": 500, "method": "CASH"}, "invoice_id"),
        ({"on_account": False, "amount": 500, "method": "CASH"}, "invoice_id"),
        ({"on_account": True, "invoice_id": "x", "amount": 500, "method": "CASH"}, "on_account"),
        ({"on_account": True, "amount": 0, "method": "CASH"}, "amount"),
        ({"on_account": True, "amount": 500, "method": "PAYNOW_ECOCASH"}, "method"),
        (
            {"on_account": True, "amount": 500, "method": "CASH", "reference": "r" * 201},
            "reference",
        ),
    ],
)
def test_bad_manual_payments_are_refused_naming_the_field(
    store: Store, as_user: Acting, data: dict[str, Any], field: str
) -> None:
    with as_user(is_staff=True), pytest.raises(ValidationFailed) as refused:
        record(store, Invoice(), data)
    assert field in refused.value.fields


@pytest.mark.parametrize("status", ["PAID", "VOID"])
def test_a_paid_or_void_invoice_takes_no_payment(
    store: Store, as_user: Acting, status: str
) -> None:
    invoice = Invoice(status=status)
    with as_user(is_staff=True), pytest.raises(Conflict) as refused:
        record(store, invoice, {"invoice_id": invoice.id, "amount": 100, "method": "CASH"})
    assert list(refused.value.fields) == ["invoice_id"]


def test_another_organizations_invoice_is_not_found(store: Store, as_user: Acting) -> None:
    invoice = Invoice()
    with as_user(is_staff=True), pytest.raises(NotFound) as refused:
        record(
            store,
            invoice,
            {"invoice_id": invoice.id, "amount": 100, "method": "CASH"},
            organization_id=cuid(),
        )
    assert list(refused.value.fields) == ["invoice_id"]


def test_a_reference_is_recorded_once_per_account(store: Store, as_user: Acting) -> None:
    invoice = Invoice()
    data = {"invoice_id": invoice.id, "amount": 100, "method": "CASH", "reference": "RCPT-9"}
    with as_user(is_staff=True):
        record(store, invoice, data)
        with pytest.raises(Conflict) as refused:
            record(store, invoice, data)
    assert list(refused.value.fields) == ["reference"]


def test_only_staff_record_payments(store: Store, as_user: Acting) -> None:
    invoice = Invoice()
    with as_user(invoice.organization_id, MemberRole.OWNER), pytest.raises(Forbidden):
        record(store, invoice, {"on_account": True, "amount": 100, "method": "CASH"})


def test_billing_is_asked_before_any_transaction_opens(store: Store, as_user: Acting) -> None:
    invoice = Invoice()
    opened: list[str] = []
    real = store.transaction

    def transaction() -> Any:
        opened.append("transaction")
        return real()

    def invoice_of(organization_id: str, invoice_id: str) -> dict[str, Any]:
        assert opened == []
        return invoice.invoice_of(organization_id, invoice_id)

    with as_user(is_staff=True), mock.patch.object(store, "transaction", transaction):
        manual.record_manual_payment(
            store,
            invoice.organization_id,
            {"invoice_id": invoice.id, "amount": 100, "method": "CASH"},
            invoice_of,
            invoice.account_of,
        )
    assert opened == ["transaction"]


# --- credit applied at finalization ---------------------------------------------------------


def test_credit_applied_by_billing_is_a_credit_payment_once(
    store: Store, as_system: Acting
) -> None:
    invoice = Invoice()
    event = CreditApplied(
        invoice_id=invoice.id,
        invoice_number=invoice.number,
        organization_id=invoice.organization_id,
        billing_account_id=invoice.billing_account_id,
        amount=1_500,
    )
    with as_system():
        with store.transaction() as uow:
            assert manual.record_applied_credit(uow, event) is True
        with store.transaction() as uow:
            assert manual.record_applied_credit(uow, event) is False
        with store.transaction() as uow:
            page = listing.list_all_payments(uow, {"invoice_id": invoice.id})
    [credit] = page["items"]
    assert (credit["method"], credit["status"], credit["amount"], credit["reference"]) == (
        "CREDIT",
        "PAID",
        1_500,
        f"credit:{invoice.id}",
    )
    assert event_types_about(credit["id"]) == []  # billing counted it already
    assert load_payment(credit["id"]).completed_at is not None


# --- lists ----------------------------------------------------------------------------------


def test_members_who_view_billing_list_their_organizations_payments(
    store: Store, as_user: Acting
) -> None:
    organization_id = cuid()
    mine = [
        add_payment(organization_id=organization_id, status=PaymentStatus.PAID),
        add_payment(organization_id=organization_id, method=PaymentMethod.PAYNOW_VISA),
    ]
    add_payment()  # another organization's
    with as_user(organization_id, MemberRole.BILLING), store.transaction() as uow:
        page = listing.list_payments(uow, organization_id, {})
        paid = listing.list_payments(uow, organization_id, {"status": "PAID"})
        one = listing.get_payment(uow, organization_id, mine[1].id)
    assert [item["id"] for item in page["items"]] == [mine[1].id, mine[0].id]
    assert (page["total"], page["limit"], page["offset"]) == (2, 50, 0)
    assert [item["id"] for item in paid["items"]] == [mine[0].id]
    assert one["method"] == "PAYNOW_VISA"
    assert "poll_url" not in one


def test_a_payment_of_another_organization_is_not_found(store: Store, as_user: Acting) -> None:
    organization_id = cuid()
    theirs = add_payment()
    with (
        as_user(organization_id, MemberRole.OWNER),
        store.transaction() as uow,
        pytest.raises(NotFound) as refused,
    ):
        listing.get_payment(uow, organization_id, theirs.id)
    assert list(refused.value.fields) == ["payment_id"]


def test_plain_members_do_not_see_payments(store: Store, as_user: Acting) -> None:
    organization_id = cuid()
    with (
        as_user(organization_id, MemberRole.MEMBER),
        store.transaction() as uow,
        pytest.raises(Forbidden),
    ):
        listing.list_payments(uow, organization_id, {})


def test_staff_filter_every_payment(store: Store, as_user: Acting) -> None:
    organization_id = cuid()
    old = add_payment(organization_id=organization_id, initiated_at=hours_ago(24 * 40))
    disputed = add_payment(
        organization_id=organization_id, status=PaymentStatus.PAID, external_status="Disputed"
    )
    today = disputed.initiated_at.date()
    with as_user(is_staff=True), store.transaction() as uow:

        def ids(query: dict[str, Any]) -> list[str]:
            page = listing.list_all_payments(uow, {"organization_id": organization_id, **query})
            return [item["id"] for item in page["items"]]

        assert ids({}) == [disputed.id, old.id]
        assert ids({"paynow_status": "Disputed"}) == [disputed.id]
        assert ids({"from": today.isoformat()}) == [disputed.id]
        assert ids({"to": (today - timedelta(days=1)).isoformat()}) == [old.id]
        assert ids({"method": "PAYNOW_ECOCASH", "status": "PENDING"}) == [old.id]
        with pytest.raises(ValidationFailed) as refused:
            ids({"from": today.isoformat(), "to": (today - timedelta(days=1)).isoformat()})
        assert list(refused.value.fields) == ["to"]
        with pytest.raises(ValidationFailed) as refused:
            ids({"to": "9999-12-31"})
        assert list(refused.value.fields) == ["to"]
    with (
        as_user(organization_id, MemberRole.OWNER),
        store.transaction() as uow,
        pytest.raises(Forbidden),
    ):
        listing.list_all_payments(uow, {})
