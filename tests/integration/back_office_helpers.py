"""Helpers for the back-office tests: an organization with a person in each role, leases
and billing runs, staff's listings (audit trail, email log, invoices, services), the audit
verify command, and the mail sink searched by subject."""

from __future__ import annotations

import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import requests

from ops.processes import ROOT
from shared.clock import utcnow
from shared.waiting import wait_until
from tests.integration.conftest import Person, Suite
from tests.integration.payments_helpers import member

NOW = utcnow()
PERIOD = NOW.strftime("%Y-%m")
MONTH_START = NOW.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
NEXT_MONTH_START = (MONTH_START + timedelta(days=32)).replace(day=1)
NEXT_PERIOD = NEXT_MONTH_START.strftime("%Y-%m")
DAYS = (NEXT_MONTH_START - MONTH_START).days

# From a change to the email in the sink: the event through the outbox, then notifications.
MAIL_SECONDS = 30.0


@dataclass
class Team:
    """An organization with its own address, its OWNER, a BILLING and a MEMBER person."""

    org_id: str
    email: str
    owner: Person
    billing: Person
    member: Person


def unique_address(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.co.zw"


def organization(suite: Suite, owner: Person) -> tuple[str, str]:
    """A new organization of `owner` with its own address, once billing has its account."""
    address = unique_address("accounts")
    org_id = suite.new_org(owner, email=address)["id"]
    wait_until(
        lambda: suite.sql(
            "SELECT id FROM billing.billing_accounts WHERE organization_id = :o", o=org_id
        ),
        20,
        f"billing to open the account of {org_id}",
    )
    return org_id, address


def new_team(suite: Suite) -> Team:
    owner = suite.new_person()
    org_id, address = organization(suite, owner)
    return Team(
        org_id,
        address,
        owner,
        member(suite, owner, org_id, "BILLING"),
        member(suite, owner, org_id, "MEMBER"),
    )


def lease(
    suite: Suite, staff: Person, org_id: str, monthly_fee: int, **fields: object
) -> dict[str, Any]:
    """A terminal leased since the start of the month (unless `fields` say otherwise)."""
    body = {
        "type": "POS_TERMINAL",
        "name": "Till",
        "monthly_fee": monthly_fee,
        "activated_at": MONTH_START.isoformat(),
        **fields,
    }
    response = suite.http(
        "POST", f"/v1/admin/organizations/{org_id}/services", json=body, headers=staff.auth
    )
    assert response.status_code == 201, response.text
    return response.json()


def run_billing(suite: Suite, staff: Person, period: str) -> dict[str, Any]:
    """The finished run (`Suite.run_billing`)."""
    response = suite.run_billing(staff, period)
    assert response.status_code == 200, response.text
    return response.json()


def issue_credit(
    suite: Suite, staff: Person, org_id: str, amount: int, request_id: str | None = None
) -> requests.Response:
    headers = {**staff.auth, **({"X-Request-Id": request_id} if request_id else {})}
    return suite.http(
        "POST",
        f"/v1/admin/organizations/{org_id}/credits",
        json={"amount": amount, "reason": "Outage at the branch"},
        headers=headers,
    )


def items(suite: Suite, person: Person, path: str, **query: object) -> list[dict[str, Any]]:
    """The items of one page (up to 100) of a listing."""
    response = suite.http("GET", path, params={"limit": 100, **query}, headers=person.auth)
    assert response.status_code == 200, (path, query, response.status_code, response.text)
    return response.json()["items"]


def ids(listed: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in listed]


def recipients(email_log: dict[str, Any]) -> set[str]:
    """The addresses an email log row was sent to (one email to all of them)."""
    return set(email_log["recipients"])


def mails_about(suite: Suite, address: str, word: str) -> list[EmailMessage]:
    """The emails to `address` whose subject has `word` (any case)."""
    return [m for m in suite.mails_to(address) if word.lower() in m["Subject"].lower()]


def wait_for_mail_about(suite: Suite, address: str, word: str) -> EmailMessage:
    found = wait_until(
        lambda: mails_about(suite, address, word), MAIL_SECONDS, f"an email to {address} ({word})"
    )
    return found[0]


def audit_verify(suite: Suite, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m ops audit verify`, run as an operator would, against this suite."""
    return subprocess.run(
        [sys.executable, "-m", "ops", "audit", "verify", *args],
        env=suite.supervisor.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def invoice_lines(suite: Suite, invoice_id: str) -> dict[str | None, int]:
    """An invoice's line totals by service id, read from billing's tables (the invoice of
    a deleted organization has no member left to ask for it)."""
    rows = suite.sql(
        "SELECT service_id, total FROM billing.invoice_line_items WHERE invoice_id = :i",
        i=invoice_id,
    )
    return {service_id: total for service_id, total in rows}


def invoice_detail(suite: Suite, person: Person, org_id: str, invoice_id: str) -> dict[str, Any]:
    response = suite.http(
        "GET", f"/v1/organizations/{org_id}/invoices/{invoice_id}", headers=person.auth
    )
    assert response.status_code == 200, response.text
    return response.json()


def service_line(invoice: dict[str, Any], service_id: str) -> dict[str, Any]:
    [line] = [i for i in invoice["line_items"] if i["service_id"] == service_id]
    return line
