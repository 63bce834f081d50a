"""The successes generated input cannot reach, walked to with real data: they need a token
from an email, the current password, a second member, a registered event type, a valid
period, an invoice, a staff user's id. Each request is sent as a schemathesis case and its
answer checked as the fuzz runs check theirs (tests/fuzzing.py: never 5xx, every answer
one the document promises); every answer here must also be a success. The fuzz runs
themselves, as every kind of caller, are tests/reliability/test_fuzz.py.

The walk bills this month, which invoices every organization that leases something this
month (billing runs are idempotent); later tests make organizations of their own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from shared.clock import utcnow
from shared.waiting import wait_until
from tests.fuzzing import Fuzzer, assert_no_findings, fuzz_http_session, load_schema
from tests.integration.conftest import (
    BILLING_RUN_SECONDS,
    FINISHED_RUNS,
    PASSWORD,
    Person,
    Suite,
)

pytestmark = pytest.mark.integration

# Signs in successfully: kept off the address the fuzzing's failed sign-ins have throttled.
WALK_SOURCE_ADDRESS = "127.0.0.3"


# What generated input cannot reach

# Their success needs what no generator guesses: a token from an email, the current
# password, a second member, a registered event type, a valid period, an invoice, a staff
# user to assign a ticket to.
BEYOND_GENERATED_INPUT = frozenset(
    {
        "POST /v1/auth/verify-email",
        "POST /v1/auth/sign-in",
        "POST /v1/auth/password",
        "POST /v1/auth/password-reset/confirm",
        "POST /v1/invitations/accept",
        "POST /v1/organizations/{org_id}/transfer-ownership",
        "DELETE /v1/organizations/{org_id}/members/{member_id}",
        "POST /v1/usage-events",
        "GET /v1/organizations/{org_id}/usage",
        "GET /v1/organizations/{org_id}/invoices/{invoice_id}",
        "GET /v1/organizations/{org_id}/invoices/{invoice_id}/html",
        "POST /v1/admin/organizations/{org_id}/payments",
        "POST /v1/admin/invoices/{invoice_id}/void",
        "POST /v1/admin/tickets/{ticket_id}/assign",
    }
)
NEW_PASSWORD = "another horse battery staple"
ORG = "/v1/organizations/{org_id}"
INVOICE = ORG + "/invoices/{invoice_id}"
TICKET = ORG + "/tickets/{ticket_id}"
ANY_TICKET = "/v1/admin/tickets/{ticket_id}"


@dataclass
class Walk:
    """Real requests sent as schemathesis cases: each answer is checked like a generated
    one's, and must be a success."""

    fuzzer: Fuzzer

    def __call__(
        self,
        credentials: dict[str, str],
        method: str,
        path: str,
        path_parameters: dict[str, str] | None = None,
        **inputs: Any,  # body=, query=
    ) -> Any:
        operation = self.fuzzer.schema[path][method]
        case = operation.Case(path_parameters=path_parameters or {}, **inputs)
        response = self.fuzzer.send(case, credentials)
        assert response is not None, f"{operation.label}: no answer"
        assert 200 <= response.status_code < 300, f"{operation.label}: {response.text[:300]}"
        content_type = (response.headers.get("content-type") or [""])[0]
        return response.json() if content_type.startswith("application/json") else None


def test_answers_generated_input_cannot_reach_match_the_document(
    suite: Suite, staff: Person
) -> None:
    schema = load_schema(suite, generate_credentials=False)
    fuzzer = Fuzzer(suite, "walk", schema, http=fuzz_http_session(WALK_SOURCE_ADDRESS))
    walk = Walk(fuzzer)
    person = signed_up_through_every_password_change(suite, walk)
    body = {"name": f"Walk {uuid.uuid4().hex[:8]}", "email": person.email}
    org = {"org_id": walk(person.auth, "POST", "/v1/organizations", body=body)["id"]}
    members_come_and_go(suite, walk, person, org)
    usage_reported_and_read(walk, person, org)
    invoice = invoices_read_paid_and_voided(suite, walk, person, staff, org)
    a_ticket_about_the_invoice_answered_and_closed(walk, person, staff, invoice)
    the_back_office_reads_what_happened(walk, person, staff, invoice)
    assert_no_findings(fuzzer)
    succeeded = {label for label, status in fuzzer.answers if 200 <= status < 300}
    assert sorted(BEYOND_GENERATED_INPUT - succeeded) == []


def signed_up_through_every_password_change(suite: Suite, walk: Walk) -> Person:
    address = f"w-{uuid.uuid4().hex[:10]}@example.co.zw"
    credentials = {"email": address, "password": PASSWORD}
    walk({}, "POST", "/v1/auth/sign-up", body=credentials)
    verification = {"token": suite.link_token(address, "Confirm")}
    walk({}, "POST", "/v1/auth/verify-email", body=verification)
    signed_in = walk({}, "POST", "/v1/auth/sign-in", body=credentials)
    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    walk(
        {"Authorization": f"Bearer {signed_in['token']}"}, "POST", "/v1/auth/password", body=change
    )
    walk({}, "POST", "/v1/auth/password-reset/request", body={"email": address})
    reset = {"token": suite.link_token(address, "Reset your CVT password"), "password": PASSWORD}
    walk({}, "POST", "/v1/auth/password-reset/confirm", body=reset)
    signed_in = walk({}, "POST", "/v1/auth/sign-in", body=credentials)
    return Person(address, signed_in["token"], signed_in["user"]["id"], signed_in["device_token"])


def members_come_and_go(suite: Suite, walk: Walk, owner: Person, org: dict[str, str]) -> None:
    """Two join by invitation; the first becomes OWNER, the second is removed."""
    joined = []
    for _ in range(2):
        joiner = suite.new_person()
        invitation = {"email": joiner.email, "role": "MEMBER"}
        walk(owner.auth, "POST", ORG + "/invitations", org, body=invitation)
        accept = {"token": suite.link_token(joiner.email, "invited")}
        joined.append(walk(joiner.auth, "POST", "/v1/invitations/accept", body=accept))
    new_owner, leaving = joined
    transfer = {"member_id": new_owner["id"]}
    walk(owner.auth, "POST", ORG + "/transfer-ownership", org, body=transfer)
    walk(owner.auth, "DELETE", ORG + "/members/{member_id}", {**org, "member_id": leaving["id"]})


def usage_reported_and_read(walk: Walk, person: Person, org: dict[str, str]) -> None:
    """A batch with a valid and an invalid event (both kinds of result), then the report,
    once the event is in it, in every grouping."""
    key = {"name": "till", "scopes": ["usage:write", "usage:read"]}
    terminal = {"X-API-Key": walk(person.auth, "POST", ORG + "/api-keys", org, body=key)["key"]}
    valid = {"event_type": "pos.transaction", "quantity": 3, "idempotency_key": uuid.uuid4().hex}
    invalid = {"event_type": "pos.transaction", "quantity": 0, "idempotency_key": "bad"}
    accepted = walk(terminal, "POST", "/v1/usage-events", body={"events": [valid, invalid]})
    assert [result["status"] for result in accepted["results"]] == ["accepted", "rejected"]
    today = utcnow().date()
    period = {"from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat()}

    def report(group_by: str) -> list[dict[str, Any]]:
        query = {**period, "group_by": group_by}
        return walk(person.auth, "GET", ORG + "/usage", org, query=query)["rows"]

    wait_until(lambda: report("event_type"), 30, "the reported event in the usage report")
    for group_by in ("day", "api_key", "invoice"):
        assert report(group_by)


def invoices_read_paid_and_voided(
    suite: Suite, walk: Walk, person: Person, staff: Person, org: dict[str, str]
) -> dict[str, str]:
    """This month billed for a lease to this organization and to another: one invoice is
    read, as data and as a page, and partly paid (its path values are returned); the other
    is voided."""
    other = {"org_id": suite.new_org(person)["id"]}
    month_start = utcnow().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    lease = {
        "type": "POS_TERMINAL",
        "name": "Till",
        "monthly_fee": 3000,
        "activated_at": month_start.isoformat(),
    }
    for each in (org, other):
        walk(staff.auth, "POST", "/v1/admin/organizations/{org_id}/services", each, body=lease)
    period = {"period": f"{month_start:%Y-%m}"}
    run = {"run_id": walk(staff.auth, "POST", "/v1/admin/billing-runs", body=period)["id"]}

    def finished() -> bool:
        progress = walk(staff.auth, "GET", "/v1/admin/billing-runs/{run_id}", run)
        return progress["status"] in FINISHED_RUNS

    wait_until(finished, BILLING_RUN_SECONDS, "the billing run to finish")
    [invoice, voided] = (
        {**each, "invoice_id": walk(person.auth, "GET", ORG + "/invoices", each)["items"][0]["id"]}
        for each in (org, other)
    )
    walk(person.auth, "GET", INVOICE, invoice)
    walk(person.auth, "GET", INVOICE + "/html", invoice)
    payment = {"invoice_id": invoice["invoice_id"], "amount": 1000, "method": "CASH"}
    walk(staff.auth, "POST", "/v1/admin/organizations/{org_id}/payments", org, body=payment)
    walk(staff.auth, "POST", "/v1/admin/invoices/{invoice_id}/void", voided)
    return invoice


def a_ticket_about_the_invoice_answered_and_closed(
    walk: Walk, person: Person, staff: Person, invoice: dict[str, str]
) -> None:
    """Opened about the invoice, assigned to staff, a note and a reply that waits on the
    client, the client's answer, then resolved and closed: every ticket shape on the way."""
    org = {"org_id": invoice["org_id"]}
    about = {"subject": "Paid twice?", "description": "Please check", "priority": "URGENT"}
    body = about | {"invoice_id": invoice["invoice_id"]}
    ticket = {"ticket_id": walk(person.auth, "POST", ORG + "/tickets", org, body=body)["id"]}
    mine = {**org, **ticket}
    assignee = {"assigned_to_id": staff.user_id}
    walk(staff.auth, "POST", ANY_TICKET + "/assign", ticket, body=assignee)
    note = {"message": "Paynow shows one payment", "internal": True}
    walk(staff.auth, "POST", ANY_TICKET + "/messages", ticket, body=note)
    answer = {"message": "Only one payment arrived", "status": "WAITING_ON_CLIENT"}
    walk(staff.auth, "POST", ANY_TICKET + "/messages", ticket, body=answer)
    walk(person.auth, "POST", TICKET + "/messages", mine, body={"message": "Thanks"})
    assert walk(person.auth, "GET", TICKET, mine)["status"] == "IN_PROGRESS"
    walk(staff.auth, "POST", ANY_TICKET + "/status", ticket, body={"status": "RESOLVED"})
    walk(person.auth, "POST", TICKET + "/close", mine)


def the_back_office_reads_what_happened(
    walk: Walk, person: Person, staff: Person, invoice: dict[str, str]
) -> None:
    """Pages with rows in them (generated filters mostly find none): the ledger of the
    invoice and its payment, the invoices and services across organizations, the trail,
    and the emails sent, one of them read and sent again."""
    org = {"org_id": invoice["org_id"]}
    mine = {"organization_id": invoice["org_id"]}
    assert walk(person.auth, "GET", ORG + "/ledger", org)["items"]
    assert walk(staff.auth, "GET", "/v1/admin/organizations/{org_id}/ledger", org)["items"]
    assert walk(staff.auth, "GET", "/v1/admin/invoices", query=mine)["items"]
    [service, *_] = walk(staff.auth, "GET", "/v1/admin/services", query=mine)["items"]
    walk(staff.auth, "GET", "/v1/admin/services/{service_id}", {"service_id": service["id"]})
    assert walk(person.auth, "GET", ORG + "/audit", org)["items"]
    assert walk(staff.auth, "GET", "/v1/admin/audit", query=mine)["items"]
    # An email without a link (a resend of a used one is refused): someone signing up
    # with the person's address.
    walk({}, "POST", "/v1/auth/sign-up", body={"email": person.email, "password": PASSWORD})
    sent = {"recipient": person.email, "template": "sign-up-attempted", "status": "SENT"}
    emails = wait_until(
        lambda: walk(staff.auth, "GET", "/v1/admin/emails", query=sent)["items"],
        30,
        "the email about the sign-up attempt",
    )
    email = {"email_id": emails[0]["id"]}
    walk(staff.auth, "GET", "/v1/admin/emails/{email_id}", email)
    walk(staff.auth, "POST", "/v1/admin/emails/{email_id}/resend", email)
