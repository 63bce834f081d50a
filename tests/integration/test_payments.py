"""Paying invoices through Paynow (the simulator, a real process) over real HTTP: express
checkout settled by the status post or by the poller, duplicate and forged status posts,
partial payments, failures, disputes; staff's manual payments; payment links that no
longer pay; who sees which payments. Each ends with the invoice, the account balance, the
payment list and the receipts exactly right."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from shared import paynow
from shared.ids import cuid
from shared.tokens import new_secret
from shared.waiting import wait_until
from tests.integration.conftest import Person, Suite
from tests.integration.payments_helpers import (
    CANCELLED_BY_PAYER,
    INSUFFICIENT_BALANCE,
    PAID_SOON,
    SETTLE_SECONDS,
    Billed,
    Simulator,
    amount_text,
    billed_organization,
    billed_organizations,
    events,
    expire_payment_link,
    member,
    money,
    once_each,
    pay_as_member,
    pay_by_token,
    payment,
    payments_of,
    receipts,
    refused,
    staff_payments,
    started,
    wait_for_money,
    wait_for_payment,
    wait_for_receipts,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def simulator(suite: Suite) -> Iterator[Simulator]:
    """The simulator with no fault on, before and after the test, whatever happens."""
    control = Simulator(suite)
    control.reset_faults()
    yield control
    control.reset_faults()


def unpaid(billed: Billed) -> tuple[str, int, int, int]:
    return "ISSUED", 0, billed.total, -billed.total


def paid_in_full(billed: Billed) -> tuple[str, int, int, int]:
    return "PAID", billed.total, 0, 0


def listed(payments: list[dict]) -> list[tuple]:
    return sorted(
        (p["id"], p["status"], p["amount"], p["method"], p["invoice_id"]) for p in payments
    )


def settled_once_with_one_receipt(suite: Suite, billed: Billed, payment_id: str) -> str:
    """The invoice paid in full by this one payment, counted once, with one receipt."""
    wait_for_money(suite, billed, paid_in_full(billed))
    [receipt] = wait_for_receipts(suite, billed.email, 1)
    once_each(suite, payment_id)
    assert receipts(suite, billed.email) == [receipt]
    assert billed.invoice["invoice_number"] in receipt
    assert amount_text(billed.total) in receipt
    return receipt


def post_status(suite: Suite, body: str) -> requests.Response:
    return suite.http(
        "POST",
        "/webhooks/paynow",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def refused_status_posts(suite: Suite, payment_id: str) -> int:
    """Status posts about the payment refused for their hash, as payments audited them."""
    [(count,)] = suite.sql(
        "SELECT count(*) FROM payments.audit_logs "
        "WHERE action = 'paynow.status_post_refused' AND entity_id = :p",
        p=payment_id,
    )
    return count


def paid_by(suite: Suite, payment_id: str) -> list[str]:
    """What moved the payment to PAID (status post or poller), as payments audited it."""
    rows = suite.sql(
        "SELECT metadata->>'source' FROM payments.audit_logs "
        "WHERE action = 'payment.paid' AND entity_id = :p",
        p=payment_id,
    )
    return [source for (source,) in rows]


def test_ecocash_by_an_owner_settled_by_the_status_post(
    suite: Suite, staff: Person, simulator: Simulator
) -> None:
    billed = billed_organization(suite, staff)
    assert money(suite, billed) == unpaid(billed)

    response = pay_as_member(suite, billed.owner, billed, method="ecocash", phone=PAID_SOON)
    paying = started(response)
    assert (paying["status"], paying["amount"], paying["invoice_id"]) == (
        "PENDING",
        billed.total,
        billed.invoice_id,
    )
    assert paying["instructions"], "Paynow's instructions for the payer's phone"
    assert "CheckPayment" not in response.text, "the poll URL stays on the server"
    transaction = simulator.transaction(paying["id"])
    assert (transaction["method"], transaction["phone"]) == ("ecocash", PAID_SOON)
    assert transaction["amount"] == f"{billed.total // 100}.{billed.total % 100:02d}"
    assert transaction["additionalinfo"] == f"Invoice {billed.invoice['invoice_number']}"
    assert transaction["resulturl"].endswith("/webhooks/paynow")

    posted = simulator.wait_for_posts(paying["id"], "Paid", lambda p: p["delivered"] == 1)
    assert posted["answers"] == ["200"], "the gateway took Paynow's status post"
    paid = wait_for_payment(suite, billed, paying["id"], "PAID")
    assert (paid["paynow_status"], paid["method"]) == ("Paid", "PAYNOW_ECOCASH")
    assert paid["completed_at"] is not None
    # The post came 0.25 s after initiation; the payment's first poll is due only after the
    # harness's 2 s poll interval.
    assert paid_by(suite, paying["id"]) == ["status post"]

    settled_once_with_one_receipt(suite, billed, paying["id"])
    mine = [(paying["id"], "PAID", billed.total, "PAYNOW_ECOCASH", billed.invoice_id)]
    assert listed(payments_of(suite, billed)) == mine
    assert listed(staff_payments(suite, staff, organization_id=billed.org_id)) == mine


def test_a_lost_status_post_is_settled_by_the_poller(
    suite: Suite, staff: Person, simulator: Simulator
) -> None:
    billed = billed_organization(suite, staff)
    simulator.faults(drop_status_posts=True)

    paying = started(pay_by_token(suite, billed.token, method="ecocash", phone=PAID_SOON))
    posted = simulator.wait_for_posts(paying["id"], "Paid", lambda p: True)
    assert (posted["dropped"], posted["delivered"], posted["answers"]) == (True, 0, [])

    paid = wait_for_payment(suite, billed, paying["id"], "PAID")
    assert paid["paynow_status"] == "Paid"
    assert paid_by(suite, paying["id"]) == ["poller"]
    settled_once_with_one_receipt(suite, billed, paying["id"])
    assert listed(payments_of(suite, billed)) == [
        (paying["id"], "PAID", billed.total, "PAYNOW_ECOCASH", billed.invoice_id)
    ]


def test_a_status_post_sent_twice_counts_once(
    suite: Suite, staff: Person, simulator: Simulator
) -> None:
    billed = billed_organization(suite, staff)
    simulator.faults(duplicate_status_posts=True)

    paying = started(pay_by_token(suite, billed.token, method="ecocash", phone=PAID_SOON))
    posted = simulator.wait_for_posts(paying["id"], "Paid", lambda p: p["delivered"] == 2)
    assert posted["answers"] == ["200", "200"], "the repeat is answered, and changes nothing"

    wait_for_payment(suite, billed, paying["id"], "PAID")
    settled_once_with_one_receipt(suite, billed, paying["id"])
    assert len(paid_by(suite, paying["id"])) == 1, "one transition, however often told"
    assert [p["id"] for p in payments_of(suite, billed)] == [paying["id"]]


def test_a_status_post_with_a_bad_hash_is_refused_audited_and_changes_nothing(
    suite: Suite, staff: Person, simulator: Simulator
) -> None:
    billed = billed_organization(suite, staff)
    # A web checkout waits on Paynow's page until the payer decides: PENDING meanwhile.
    paying = started(pay_by_token(suite, billed.token, method="visa"))
    assert paying["status"] == "PENDING"
    assert paying["browser_url"].startswith(simulator.url)
    transaction = simulator.transaction(paying["id"])
    assert transaction["status"] == "Created"
    claims_paid: paynow.Message = [
        ("reference", paying["id"]),
        ("paynowreference", transaction["paynowreference"]),
        ("amount", transaction["amount"]),
        ("status", "Paid"),
        ("pollurl", transaction["pollurl"]),
    ]

    forged = post_status(suite, paynow.encode(paynow.sign(claims_paid, str(cuid()))))
    assert refused(forged, 422, "hash")
    unsigned = post_status(suite, paynow.encode(claims_paid))
    assert refused(unsigned, 422, "hash")
    assert refused_status_posts(suite, paying["id"]) == 2
    assert payment(suite, billed, paying["id"])["status"] == "PENDING"

    # Even a post signed with our key is only a hint: Paynow, polled, says Created.
    hint = post_status(suite, paynow.encode(paynow.sign(claims_paid, simulator.integration_key)))
    assert hint.status_code == 200, hint.text
    assert payment(suite, billed, paying["id"])["status"] == "PENDING"
    assert money(suite, billed) == unpaid(billed)

    # The payer cancels on Paynow's page: nothing was paid, nothing is counted.
    simulator.decide(paying["browser_url"], "cancel")
    cancelled = wait_for_payment(suite, billed, paying["id"], "CANCELLED")
    assert cancelled["paynow_status"] == "Cancelled"
    assert events(suite, "payments", "payment.paid", paying["id"]) == 0
    assert money(suite, billed) == unpaid(billed)

    # Status posts whose hash does not verify, from the simulator this time: refused each
    # time, while the poller reads the signed truth from Paynow and settles the payment.
    simulator.faults(bad_hash=True)
    genuine = started(pay_by_token(suite, billed.token, method="ecocash", phone=PAID_SOON))
    posted = simulator.wait_for_posts(genuine["id"], "Paid", lambda p: "422" in p["answers"])
    assert (posted["hash_valid"], posted["delivered"]) == (False, 0)
    assert refused_status_posts(suite, genuine["id"]) >= 1
    wait_for_payment(suite, billed, genuine["id"], "PAID")
    settled_once_with_one_receipt(suite, billed, genuine["id"])
    assert listed(payments_of(suite, billed)) == listed(
        [
            {**paying, "status": "CANCELLED", "method": "PAYNOW_VISA"},
            {**genuine, "status": "PAID", "method": "PAYNOW_ECOCASH"},
        ]
    )


def test_a_partial_payment_by_link_then_the_rest(
    suite: Suite, staff: Person, simulator: Simulator
) -> None:
    billed = billed_organization(suite, staff)
    part = billed.total // 3
    rest = billed.total - part

    first = started(pay_by_token(suite, billed.token, method="visa", amount=part))
    assert (first["status"], first["amount"]) == ("PENDING", part)
    # One live attempt per invoice: asking again returns it and starts nothing.
    again = started(
        pay_by_token(suite, billed.token, method="ecocash", phone=PAID_SOON), created=False
    )
    assert again["id"] == first["id"]
    described = suite.http("GET", f"/v1/pay/{billed.token}").json()
    assert described["state"] == "payable"
    assert described["live_payment"]["id"] == first["id"]
    assert described["invoice"]["amount_due"] == billed.total
    assert "payment_token" not in described["invoice"]

    approved = simulator.decide(first["browser_url"], "pay")
    assert approved.headers["Location"].endswith(f"/pay/{billed.token}?payment={first['id']}")
    wait_for_payment(suite, billed, first["id"], "PAID")
    wait_for_money(suite, billed, ("PARTIAL", part, rest, -rest))
    [first_receipt] = wait_for_receipts(suite, billed.email, 1)
    assert amount_text(part) in first_receipt
    assert amount_text(rest) in first_receipt, "the receipt names what remains due"
    assert f"/pay/{billed.token}" in first_receipt, "and links to paying the rest"
    by_link = suite.http("GET", f"/v1/pay/{billed.token}/payments/{first['id']}")
    assert by_link.status_code == 200 and by_link.json()["status"] == "PAID"

    second = started(pay_by_token(suite, billed.token, method="ecocash", phone=PAID_SOON))
    assert second["amount"] == rest, "the default amount is what remains due"
    wait_for_payment(suite, billed, second["id"], "PAID")
    wait_for_money(suite, billed, paid_in_full(billed))
    bodies = wait_for_receipts(suite, billed.email, 2)
    [second_receipt] = [b for b in bodies if b != first_receipt]
    assert amount_text(rest) in second_receipt
    assert "paid in full" in second_receipt.lower()
    once_each(suite, first["id"])
    once_each(suite, second["id"])
    assert len(receipts(suite, billed.email)) == 2
    assert listed(payments_of(suite, billed)) == listed(
        [
            {**first, "status": "PAID", "method": "PAYNOW_VISA"},
            {**second, "status": "PAID", "method": "PAYNOW_ECOCASH"},
        ]
    )
    assert suite.http("GET", f"/v1/pay/{billed.token}").json()["state"] == "paid"


def test_a_failed_and_a_cancelled_payment_change_nothing(
    suite: Suite, staff: Person, simulator: Simulator
) -> None:
    billed = billed_organization(suite, staff)

    failed = started(
        pay_by_token(suite, billed.token, method="ecocash", phone=INSUFFICIENT_BALANCE)
    )
    assert failed["status"] == "FAILED"
    assert "Insufficient balance" in failed["error_message"], "Paynow's reason, for the page"

    # A failed attempt is not live: the next one starts afresh.
    cancelling = started(
        pay_as_member(suite, billed.owner, billed, method="onemoney", phone=CANCELLED_BY_PAYER)
    )
    assert cancelling["id"] != failed["id"]
    cancelled = wait_for_payment(suite, billed, cancelling["id"], "CANCELLED")
    assert cancelled["paynow_status"] == "Cancelled"
    wait_until(
        lambda: events(suite, "payments", "payment.failed", cancelling["id"]) == 1,
        SETTLE_SECONDS,
        "payment.failed for the cancelled payment",
    )
    for payment_id in (failed["id"], cancelling["id"]):
        assert events(suite, "payments", "payment.paid", payment_id) == 0
    assert money(suite, billed) == unpaid(billed)

    # Then one that is paid: its receipt is the only one.
    paying = started(pay_by_token(suite, billed.token, method="ecocash", phone=PAID_SOON))
    wait_for_payment(suite, billed, paying["id"], "PAID")
    settled_once_with_one_receipt(suite, billed, paying["id"])
    assert listed(payments_of(suite, billed)) == listed(
        [
            {**failed, "method": "PAYNOW_ECOCASH"},
            {**cancelling, "status": "CANCELLED", "method": "PAYNOW_ONEMONEY"},
            {**paying, "status": "PAID", "method": "PAYNOW_ECOCASH"},
        ]
    )


def test_a_disputed_payment_is_shown_to_staff_and_announced(
    suite: Suite, staff: Person, simulator: Simulator
) -> None:
    billed = billed_organization(suite, staff)
    paying = started(pay_as_member(suite, billed.owner, billed, method="ecocash", phone=PAID_SOON))
    wait_for_payment(suite, billed, paying["id"], "PAID")
    receipt = settled_once_with_one_receipt(suite, billed, paying["id"])

    reference = simulator.transaction(paying["id"])["paynowreference"]
    simulator.change(reference, "dispute")
    disputed = wait_until(
        lambda: [
            p
            for p in staff_payments(suite, staff, paynow_status="Disputed")
            if p["id"] == paying["id"]
        ],
        SETTLE_SECONDS,
        "staff to see the dispute",
    )
    assert (disputed[0]["status"], disputed[0]["paynow_status"]) == ("PAID", "Disputed")
    [(announced,)] = suite.sql(
        "SELECT payload FROM payments.outbox_messages "
        "WHERE event_type = 'payment.disputed' AND payload->>'payment_id' = :p",
        p=paying["id"],
    )
    assert (announced["paynow_reference"], announced["amount"], announced["invoice_id"]) == (
        reference,
        billed.total,
        billed.invoice_id,
    )
    assert announced["organization_id"] == billed.org_id
    # Support follows it up; the money stays as it was until they do.
    assert money(suite, billed) == paid_in_full(billed)
    once_each(suite, paying["id"])
    assert receipts(suite, billed.email) == [receipt]
    assert [p["paynow_status"] for p in payments_of(suite, billed)] == ["Disputed"]


def test_staff_record_payments_only_against_a_payable_invoice_of_that_organization(
    suite: Suite, staff: Person
) -> None:
    a, b, voided, settled = billed_organizations(suite, staff, 4)

    def record(billed: Billed, **body: object) -> requests.Response:
        return suite.http(
            "POST",
            f"/v1/admin/organizations/{billed.org_id}/payments",
            json=body,
            headers=staff.auth,
        )

    assert refused(record(a, invoice_id=b.invoice_id, amount=100, method="CASH"), 404, "invoice_id")
    assert refused(record(a, invoice_id=cuid(), amount=100, method="CASH"), 404, "invoice_id")
    void = suite.http("POST", f"/v1/admin/invoices/{voided.invoice_id}/void", headers=staff.auth)
    assert void.status_code == 200, void.text
    assert refused(
        record(voided, invoice_id=voided.invoice_id, amount=100, method="CASH"), 409, "invoice_id"
    )
    assert record(a, amount=100, method="CASH").status_code == 422, "invoice or on account"
    both = record(a, invoice_id=a.invoice_id, on_account=True, amount=100, method="CASH")
    assert both.status_code == 422, both.text

    bank_reference = f"FT-{cuid()}"
    full = record(
        settled,
        invoice_id=settled.invoice_id,
        amount=settled.total,
        method="BANK_TRANSFER",
        reference=bank_reference,
    )
    assert full.status_code == 201, full.text
    assert (full.json()["status"], full.json()["reference"]) == ("PAID", bank_reference)
    settled_once_with_one_receipt(suite, settled, full.json()["id"])
    assert refused(
        record(settled, invoice_id=settled.invoice_id, amount=100, method="CASH"), 409, "invoice_id"
    )

    on_account = record(a, on_account=True, amount=2500, method="CASH", reference="R-1")
    assert on_account.status_code == 201, on_account.text
    credit_payment = on_account.json()
    assert (credit_payment["invoice_id"], credit_payment["status"]) == (None, "PAID")
    wait_for_money(suite, a, ("ISSUED", 0, a.total, 2500 - a.total))
    credits = suite.http(
        "GET", f"/v1/organizations/{a.org_id}/credits", headers=a.owner.auth
    ).json()["items"]
    assert [c["amount"] for c in credits] == [2500]
    assert credit_payment["id"] in credits[0]["reason"]
    [receipt] = wait_for_receipts(suite, a.email, 1)
    assert amount_text(2500) in receipt
    # The same bank reference is the same payment: entered again, it is refused.
    again = record(a, on_account=True, amount=2500, method="CASH", reference="R-1")
    assert refused(again, 409, "reference")

    assert money(suite, b) == unpaid(b)
    assert payments_of(suite, b) == payments_of(suite, voided) == []
    assert [p["id"] for p in payments_of(suite, a)] == [credit_payment["id"]]
    assert [p["id"] for p in payments_of(suite, settled)] == [full.json()["id"]]


def test_payment_links_refuse_what_they_cannot_pay(suite: Suite, staff: Person) -> None:
    paid, expired, voided = billed_organizations(suite, staff, 3)

    unknown = new_secret()
    assert refused(suite.http("GET", f"/v1/pay/{unknown}"), 404, "token")
    assert refused(pay_by_token(suite, unknown, method="visa"), 404, "token")

    token = paid.token
    assert refused(pay_by_token(suite, token, method="visa", amount=paid.total + 1), 422, "amount")
    assert refused(pay_by_token(suite, token, method="visa", amount=0), 422, "amount")
    assert refused(pay_by_token(suite, token, method="visa", amount=-5), 422, "amount")
    assert refused(pay_by_token(suite, token, method="visa", phone=PAID_SOON), 422, "phone")
    assert refused(pay_by_token(suite, token, method="ecocash"), 422, "phone")
    assert refused(pay_by_token(suite, token, method="ecocash", phone="12345"), 422, "phone")
    assert refused(pay_by_token(suite, token, method="bitcoin"), 422, "method")
    assert refused(pay_by_token(suite, token, method="visa", pollurl="x"), 422, "pollurl")
    assert payments_of(suite, paid) == [], "a refused request starts nothing"

    full = suite.http(
        "POST",
        f"/v1/admin/organizations/{paid.org_id}/payments",
        json={"invoice_id": paid.invoice_id, "amount": paid.total, "method": "CASH"},
        headers=staff.auth,
    )
    assert full.status_code == 201, full.text
    wait_for_money(suite, paid, paid_in_full(paid))
    described = suite.http("GET", f"/v1/pay/{token}").json()
    assert (described["state"], described["invoice"]["amount_due"]) == ("paid", 0)
    assert described["live_payment"] is None
    assert refused(pay_by_token(suite, token, method="ecocash", phone=PAID_SOON), 409, "token")
    by_member = pay_as_member(suite, paid.owner, paid, method="ecocash", phone=PAID_SOON)
    assert refused(by_member, 409, "invoice_id")

    expire_payment_link(suite, expired.invoice_id)
    assert suite.http("GET", f"/v1/pay/{expired.token}").json()["state"] == "expired"
    assert refused(pay_by_token(suite, expired.token, method="visa"), 410, "token")

    void = suite.http("POST", f"/v1/admin/invoices/{voided.invoice_id}/void", headers=staff.auth)
    assert void.status_code == 200, void.text
    assert suite.http("GET", f"/v1/pay/{voided.token}").json()["state"] == "void"
    assert refused(pay_by_token(suite, voided.token, method="visa"), 409, "token")

    # A payment is read through its own invoice's link only.
    [cash] = payments_of(suite, paid)
    assert refused(
        suite.http("GET", f"/v1/pay/{expired.token}/payments/{cash['id']}"), 404, "payment_id"
    )
    assert payments_of(suite, expired) == payments_of(suite, voided) == []


def test_people_see_their_organizations_payments_and_staff_filter_all(
    suite: Suite, staff: Person
) -> None:
    a, b = billed_organizations(suite, staff, 2)

    def record(billed: Billed, amount: int, method: str) -> dict:
        response = suite.http(
            "POST",
            f"/v1/admin/organizations/{billed.org_id}/payments",
            json={"invoice_id": billed.invoice_id, "amount": amount, "method": method},
            headers=staff.auth,
        )
        assert response.status_code == 201, response.text
        return response.json()

    a_failed = started(pay_by_token(suite, a.token, method="ecocash", phone=INSUFFICIENT_BALANCE))
    a_cash = record(a, 1000, "CASH")
    b_bank = record(b, 500, "BANK_TRANSFER")
    wait_for_money(suite, a, ("PARTIAL", 1000, a.total - 1000, 1000 - a.total))

    a_listed = payments_of(suite, a)
    assert sorted(p["id"] for p in a_listed) == sorted([a_failed["id"], a_cash["id"]])
    assert {p["invoice_number"] for p in a_listed} == {a.invoice["invoice_number"]}
    assert [p["id"] for p in payments_of(suite, b)] == [b_bank["id"]]
    # The owner of both organizations still reads each payment under its own organization.
    other = suite.http(
        "GET", f"/v1/organizations/{a.org_id}/payments/{b_bank['id']}", headers=a.owner.auth
    )
    assert refused(other, 404, "payment_id")
    stranger = suite.new_person()
    outside = suite.http("GET", f"/v1/organizations/{a.org_id}/payments", headers=stranger.auth)
    assert refused(outside, 404, "organization_id")

    plain_member = member(suite, a.owner, a.org_id, "MEMBER")
    billing_clerk = member(suite, a.owner, a.org_id, "BILLING")
    path = f"/v1/organizations/{a.org_id}/payments"
    assert suite.http("GET", path, headers=plain_member.auth).status_code == 403
    by_member = pay_as_member(suite, plain_member, a, method="ecocash", phone=PAID_SOON)
    assert by_member.status_code == 403, by_member.text
    assert suite.http("GET", path, headers=billing_clerk.auth).status_code == 200
    assert suite.http("GET", "/v1/admin/payments", headers=a.owner.auth).status_code == 403

    def staff_ids(**filters: str) -> list[str]:
        return sorted(p["id"] for p in staff_payments(suite, staff, **filters))

    assert staff_ids(organization_id=a.org_id) == sorted([a_failed["id"], a_cash["id"]])
    assert staff_ids(organization_id=a.org_id, status="PAID") == [a_cash["id"]]
    assert staff_ids(organization_id=a.org_id, status="FAILED") == [a_failed["id"]]
    assert staff_ids(organization_id=a.org_id, method="PAYNOW_ECOCASH") == [a_failed["id"]]
    assert staff_ids(organization_id=b.org_id, method="CASH") == []
    assert staff_ids(invoice_id=b.invoice_id) == [b_bank["id"]]
    assert staff_ids(organization_id=b.org_id, method="BANK_TRANSFER", status="PAID") == [
        b_bank["id"]
    ]
    [shown] = staff_payments(suite, staff, organization_id=b.org_id)
    assert (shown["organization_id"], shown["invoice_number"]) == (
        b.org_id,
        b.invoice["invoice_number"],
    )
    refused_filter = suite.http(
        "GET", "/v1/admin/payments", params={"status": "LOST"}, headers=staff.auth
    )
    assert refused(refused_filter, 422, "status")
