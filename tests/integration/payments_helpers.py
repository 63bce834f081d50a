"""Helpers for the payment tests: an organization with an issued invoice, paying it by
token or as a member, waiting for a payment's outcome, the money as the API shows it, the
receipts in the mail sink, and the Paynow simulator's control API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests

from shared.clock import utcnow
from shared.money import format_cents
from shared.waiting import wait_until
from tests.integration.conftest import Person, Suite, text_of

# Paynow's test-mode numbers (the simulator plays them; delays are scaled to a twentieth).
PAID_SOON = "0771111111"  # paid after 5 s (0.25 s here)
PAID_LATER = "0772222222"  # paid after 30 s (1.5 s here)
CANCELLED_BY_PAYER = "0773333333"  # cancelled after 30 s
INSUFFICIENT_BALANCE = "0774444444"  # refused at once

# From a status change at Paynow to the receipt in the mail sink: payments, billing and
# notifications each handle one event on the way.
SETTLE_SECONDS = 30.0

NOW = utcnow()
PERIOD = NOW.strftime("%Y-%m")
MONTH_START = NOW.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass
class Billed:
    """An organization of `owner` with one issued, unpaid invoice."""

    owner: Person
    org_id: str
    email: str  # the organization's address: invoice and receipt emails go there
    invoice: dict[str, Any]  # the invoice's detail as issued

    @property
    def invoice_id(self) -> str:
        return self.invoice["id"]

    @property
    def token(self) -> str:
        return self.invoice["payment_token"]

    @property
    def total(self) -> int:
        return self.invoice["total"]


def error_fields(response: requests.Response) -> dict[str, Any]:
    return response.json()["error"].get("fields", {})


def refused(response: requests.Response, status: int, field: str) -> bool:
    """The answer is `status` and names `field` as at fault."""
    assert response.status_code == status, (status, response.status_code, response.text)
    assert field in error_fields(response), response.text
    return True


def billed_organizations(
    suite: Suite, staff: Person, count: int = 1, monthly_fee: int = 5000
) -> list[Billed]:
    """`count` organizations of one new owner, each leasing a terminal since the start of
    the month, invoiced by one billing run for this month."""
    owner = suite.new_person()
    orgs = []
    for _ in range(count):
        address = f"accounts-{uuid.uuid4().hex[:10]}@example.co.zw"
        orgs.append((lease_to_new_organization(suite, staff, owner, monthly_fee, address), address))
    run = suite.run_billing(staff, PERIOD)
    assert run.status_code == 200, run.text
    billed = []
    for org_id, address in orgs:
        listed = suite.http("GET", f"/v1/organizations/{org_id}/invoices", headers=owner.auth)
        [issued] = listed.json()["items"]
        detail = invoice(suite, owner, org_id, issued["id"])
        assert (detail["status"], detail["amount_paid"]) == ("ISSUED", 0)
        assert detail["amount_due"] == detail["total"] > 0
        billed.append(Billed(owner, org_id, address, detail))
    return billed


def lease_to_new_organization(
    suite: Suite, staff: Person, owner: Person, monthly_fee: int = 5000, email: str | None = None
) -> str:
    """A new organization of `owner` (its address `email`, if given) leasing a terminal
    since the start of the month, not yet invoiced; its id."""
    org_id = suite.new_org(owner, **({"email": email} if email else {}))["id"]
    wait_until(
        lambda: suite.http("GET", f"/v1/organizations/{org_id}", headers=owner.auth).json()[
            "billing_account"
        ],
        30,
        f"the billing account of {org_id}",
    )
    leased = suite.http(
        "POST",
        f"/v1/admin/organizations/{org_id}/services",
        headers=staff.auth,
        json={
            "type": "POS_TERMINAL",
            "name": "Till",
            "monthly_fee": monthly_fee,
            "activated_at": MONTH_START.isoformat(),
        },
    )
    assert leased.status_code == 201, leased.text
    return org_id


def billed_organization(suite: Suite, staff: Person) -> Billed:
    [one] = billed_organizations(suite, staff)
    return one


def member(suite: Suite, owner: Person, org_id: str, role: str) -> Person:
    """A new person who joined the organization in `role` through an invitation."""
    address = f"{role.lower()}-{uuid.uuid4().hex[:10]}@example.co.zw"
    invited = suite.http(
        "POST",
        f"/v1/organizations/{org_id}/invitations",
        json={"email": address, "role": role},
        headers=owner.auth,
    )
    assert invited.status_code == 201, invited.text
    person = suite.new_person(address)
    token = suite.link_token(address, "invited")
    accepted = suite.http(
        "POST", "/v1/invitations/accept", json={"token": token}, headers=person.auth
    )
    assert accepted.status_code == 200, accepted.text
    return person


def invoice(suite: Suite, person: Person, org_id: str, invoice_id: str) -> dict[str, Any]:
    response = suite.http(
        "GET", f"/v1/organizations/{org_id}/invoices/{invoice_id}", headers=person.auth
    )
    assert response.status_code == 200, response.text
    return response.json()


def money(suite: Suite, billed: Billed) -> tuple[str, int, int, int]:
    """The invoice's status, amount paid and amount due, and the account's balance."""
    detail = invoice(suite, billed.owner, billed.org_id, billed.invoice_id)
    return detail["status"], detail["amount_paid"], detail["amount_due"], balance(suite, billed)


def balance(suite: Suite, billed: Billed) -> int:
    response = suite.http(
        "GET", f"/v1/organizations/{billed.org_id}/billing-account", headers=billed.owner.auth
    )
    assert response.status_code == 200, response.text
    return response.json()["balance"]


def wait_for_money(
    suite: Suite, billed: Billed, expected: tuple[str, int, int, int]
) -> tuple[str, int, int, int]:
    last: list[tuple[str, int, int, int]] = []

    def settled() -> bool:
        last[:] = [money(suite, billed)]
        return last[0] == expected

    try:
        wait_until(settled, SETTLE_SECONDS, f"invoice and balance to be {expected}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen {last[0]}") from None
    return last[0]


def pay_by_token(suite: Suite, token: str, **body: object) -> requests.Response:
    return suite.http("POST", f"/v1/pay/{token}/payments", json=body)


def pay_as_member(
    suite: Suite, person: Person, billed: Billed, **body: object
) -> requests.Response:
    return suite.http(
        "POST",
        f"/v1/organizations/{billed.org_id}/invoices/{billed.invoice_id}/payments",
        json=body,
        headers=person.auth,
    )


def started(response: requests.Response, created: bool = True) -> dict[str, Any]:
    """The payment an initiation answered with: 201 when it started one, 200 when it
    returned the live one instead."""
    assert response.status_code == (201 if created else 200), response.text
    return response.json()


def payment(suite: Suite, billed: Billed, payment_id: str) -> dict[str, Any]:
    response = suite.http(
        "GET",
        f"/v1/organizations/{billed.org_id}/payments/{payment_id}",
        headers=billed.owner.auth,
    )
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_payment(suite: Suite, billed: Billed, payment_id: str, status: str) -> dict[str, Any]:
    last: list[dict[str, Any]] = [{}]

    def reached() -> dict[str, Any] | None:
        last[0] = payment(suite, billed, payment_id)
        return last[0] if last[0]["status"] == status else None

    try:
        return wait_until(reached, SETTLE_SECONDS, f"payment {payment_id} to be {status}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen {last[0]}") from None


def payments_of(suite: Suite, billed: Billed) -> list[dict[str, Any]]:
    response = suite.http(
        "GET", f"/v1/organizations/{billed.org_id}/payments", headers=billed.owner.auth
    )
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == len(page["items"]), page
    return page["items"]


def staff_payments(suite: Suite, staff: Person, **filters: str) -> list[dict[str, Any]]:
    response = suite.http(
        "GET", "/v1/admin/payments", params={"limit": 100, **filters}, headers=staff.auth
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


def receipts(suite: Suite, address: str) -> list[str]:
    """The bodies of the receipts sent to `address` (in no particular order)."""
    return [text_of(m) for m in suite.mails_to(address) if "receipt" in m["Subject"].lower()]


def wait_for_receipts(suite: Suite, address: str, count: int) -> list[str]:
    """Once `count` receipts are there; their bodies."""
    return wait_until(
        lambda: (bodies := receipts(suite, address)) and len(bodies) >= count and bodies,
        SETTLE_SECONDS,
        f"{count} receipt(s) to {address}",
    )


def events(suite: Suite, service: str, event_type: str, payment_id: str) -> int:
    """How many `event_type` events `service` wrote to its outbox about the payment."""
    [(count,)] = suite.sql(
        f"SELECT count(*) FROM {service}.outbox_messages "
        "WHERE event_type = :t AND payload->>'payment_id' = :p",
        t=event_type,
        p=payment_id,
    )
    return count


def once_each(suite: Suite, payment_id: str) -> None:
    """A paid payment was announced once and settled once: one payment.paid, one
    payment.applied (whose receipt the notifications service sends once per event)."""
    assert events(suite, "payments", "payment.paid", payment_id) == 1
    wait_until(
        lambda: events(suite, "billing", "payment.applied", payment_id) >= 1,
        SETTLE_SECONDS,
        f"billing to settle {payment_id}",
    )
    assert events(suite, "billing", "payment.applied", payment_id) == 1


def amount_text(cents: int) -> str:
    return format_cents(cents)


def expire_payment_link(suite: Suite, invoice_id: str) -> None:
    """A finalized invoice's link never changes (a trigger refuses it); for the test the
    trigger steps aside within this one transaction."""
    suite.sql(
        "ALTER TABLE billing.invoices DISABLE TRIGGER invoices_immutable_once_finalized; "
        "UPDATE billing.invoices SET payment_token_expires_at = :at WHERE id = :id; "
        "ALTER TABLE billing.invoices ENABLE TRIGGER invoices_immutable_once_finalized",
        at=utcnow() - timedelta(days=1),
        id=invoice_id,
    )


class Simulator:
    """The Paynow simulator's control API (/_simulator/...)."""

    def __init__(self, suite: Suite) -> None:
        self.url = suite.supervisor.env["PAYNOW_URL"].rstrip("/")
        self.integration_key = suite.supervisor.env["PAYNOW_INTEGRATION_KEY"]

    def faults(self, **switches: object) -> None:
        response = requests.post(f"{self.url}/_simulator/faults", json=switches, timeout=10)
        assert response.status_code == 200, response.text

    def reset_faults(self) -> None:
        response = requests.delete(f"{self.url}/_simulator/faults", timeout=10)
        assert response.status_code == 200, response.text

    def transaction(self, payment_id: str) -> dict[str, Any]:
        """Paynow's transaction for our payment (the payment id is our reference)."""
        response = requests.get(
            f"{self.url}/_simulator/transactions", params={"reference": payment_id}, timeout=10
        )
        assert response.status_code == 200, response.text
        [found] = response.json()
        return found

    def wait_for_posts(self, payment_id: str, status: str, check: Any) -> dict[str, Any]:
        """The record of the status posts announcing `status`, once `check(record)`."""

        def record() -> dict[str, Any] | None:
            posts = self.transaction(payment_id)["status_posts"]
            mine = [p for p in posts if p["status"] == status]
            return mine[0] if mine and check(mine[0]) else None

        return wait_until(record, SETTLE_SECONDS, f"the {status} status posts of {payment_id}")

    def change(self, paynow_reference: str, change: str) -> dict[str, Any]:
        response = requests.post(
            f"{self.url}/_simulator/transactions/{paynow_reference}/{change}", timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()

    def decide(self, browser_url: str, decision: str) -> requests.Response:
        """The payer's click on Paynow's page: "pay" or "cancel"."""
        response = requests.post(
            browser_url, data={"decision": decision}, allow_redirects=False, timeout=10
        )
        assert response.status_code == 303, response.text
        return response
