"""One shape everywhere, over real HTTP: every DELETE answers 204, a usage batch without a
valid event is refused in the one error shape, every list answers the one page envelope
(paged by the service), a manual payment's `reference` comes back as `reference`, usage
reports take days as well as moments, and the audit trail of every service reads as one,
newest first, paged across services."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from gateway.routes import ROUTES
from shared.clock import utcnow
from shared.ids import cuid
from shared.schemas import PageQuerySchema
from shared.waiting import wait_until
from tests.integration.conftest import Person, Suite

pytestmark = pytest.mark.integration

PAGE_KEYS = {"items", "total", "limit", "offset"}


@pytest.fixture(scope="module")
def owner(suite: Suite) -> Person:
    return suite.new_person()


def created(suite: Suite, person: Person, path: str, body: dict) -> dict:
    response = suite.http("POST", path, json=body, headers=person.auth)
    assert response.status_code == 201, response.text
    return response.json()


def new_key(suite: Suite, owner: Person, org_id: str, scopes: list[str]) -> dict:
    body = {"name": "till", "scopes": scopes}
    return created(suite, owner, f"/v1/organizations/{org_id}/api-keys", body)


def with_billing_account(suite: Suite, owner: Person, org_id: str) -> str:
    return wait_until(
        lambda: suite.http("GET", f"/v1/organizations/{org_id}", headers=owner.auth).json()[
            "billing_account"
        ],
        20,
        "billing to open the account",
    )["id"]


def finalized_invoice(suite: Suite, billing_account_id: str) -> str:
    """Arranged in billing's tables: these tests are about the payment's shape."""
    invoice_id = cuid()
    suite.sql(
        "INSERT INTO billing.invoices (id, billing_account_id, invoice_number, period_start, "
        "period_end, subtotal, tax, total, amount_paid, amount_due, status, issued_at, due_at, "
        "finalized_at) VALUES (:id, :account, :number, '1998-01-01', '1998-02-01', 500, 0, 500, "
        "0, 500, 'ISSUED', now(), now() + interval '14 days', now())",
        id=invoice_id,
        account=billing_account_id,
        number=f"INV-1998-{invoice_id[-6:]}",
    )
    return invoice_id


def test_every_delete_answers_204_without_a_body(suite: Suite, owner: Person) -> None:
    org_id = suite.new_org(owner)["id"]
    base = f"/v1/organizations/{org_id}"
    key = new_key(suite, owner, org_id, ["pos:read"])
    invitation = created(suite, owner, f"{base}/invitations", {"email": "x@example.co.zw"})
    joiner = suite.new_person()
    created(suite, owner, f"{base}/invitations", {"email": joiner.email})
    token = suite.link_token(joiner.email, "invited")
    accepted = suite.http(
        "POST", "/v1/invitations/accept", json={"token": token}, headers=joiner.auth
    )
    assert accepted.status_code == 200, accepted.text
    deletes = {
        "/v1/organizations/{org_id}/api-keys/{api_key_id}": f"{base}/api-keys/{key['id']}",
        "/v1/organizations/{org_id}/invitations/{invitation_id}": (
            f"{base}/invitations/{invitation['id']}"
        ),
        "/v1/organizations/{org_id}/members/{member_id}": f"{base}/members/{accepted.json()['id']}",
        "/v1/organizations/{org_id}": base,  # last: it takes the rest with it
    }
    assert set(deletes) == {route.template for route in ROUTES if route.method == "DELETE"}
    for path in deletes.values():
        answer = suite.http("DELETE", path, headers=owner.auth)
        assert (answer.status_code, answer.content) == (204, b""), path
    assert suite.http("GET", base, headers=owner.auth).status_code == 404


def test_a_usage_batch_without_a_valid_event_is_refused_in_the_one_error_shape(
    suite: Suite, owner: Person
) -> None:
    org_id = suite.new_org(owner)["id"]
    terminal = {"X-API-Key": new_key(suite, owner, org_id, ["usage:write"])["key"]}
    batch = {
        "events": [
            {"event_type": "pos.transaction", "quantity": 0, "idempotency_key": "a"},
            {"event_type": "pos.nothing", "idempotency_key": "b"},
            "not an event",
        ]
    }
    refused = suite.http("POST", "/v1/usage-events", json=batch, headers=terminal)
    assert refused.status_code == 422
    assert set(refused.json()) == {"error"}
    error = refused.json()["error"]
    assert (error["code"], error["request_id"]) == (
        "validation_failed",
        refused.headers["X-Request-Id"],
    )
    assert error["fields"] == {
        "events.0.quantity": [
            "Must be greater than or equal to 1 and less than or equal to 1000000."
        ],
        "events.1.event_type": ["not a registered event type"],
        "events.2": ["Invalid input type."],
    }
    batch["events"][2] = {"event_type": "pos.transaction", "idempotency_key": "c"}
    mixed = suite.http("POST", "/v1/usage-events", json=batch, headers=terminal)
    assert mixed.status_code == 202
    assert [r["status"] for r in mixed.json()["results"]] == ["rejected", "rejected", "accepted"]


def list_path(template: str, org_id: str, ticket_id: str) -> str:
    return template.replace("{org_id}", org_id).replace("{ticket_id}", ticket_id)


def test_every_list_answers_the_one_page_envelope(
    suite: Suite, owner: Person, staff: Person
) -> None:
    org_id = suite.new_org(owner)["id"]
    with_billing_account(suite, owner, org_id)
    ticket = {"subject": "Paging", "description": "One page at a time"}
    ticket_id = created(suite, owner, f"/v1/organizations/{org_id}/tickets", ticket)["id"]
    created(
        suite, owner, f"/v1/organizations/{org_id}/tickets/{ticket_id}/messages", {"message": "Hi"}
    )
    lists = [r.template for r in ROUTES if r.query and issubclass(r.query, PageQuerySchema)]
    assert len(lists) == 24
    for template in lists:
        caller = staff if template.startswith("/v1/admin/") else owner
        path = list_path(template, org_id, ticket_id)
        response = suite.http("GET", path, params={"limit": 1}, headers=caller.auth)
        assert response.status_code == 200, (template, response.text)
        page = response.json()
        assert set(page) == PAGE_KEYS, template
        assert (page["limit"], page["offset"]) == (1, 0), template
        assert len(page["items"]) == min(1, page["total"]), template


def test_a_list_pages_in_the_service_and_refuses_a_bad_page_at_the_gateway(
    suite: Suite, owner: Person
) -> None:
    org_id = suite.new_org(owner)["id"]
    keys = [new_key(suite, owner, org_id, ["pos:read"])["id"] for _ in range(3)]
    path = f"/v1/organizations/{org_id}/api-keys"
    first = suite.http("GET", path, params={"limit": 2}, headers=owner.auth).json()
    rest = suite.http("GET", path, params={"limit": 2, "offset": 2}, headers=owner.auth).json()
    assert (first["total"], rest["total"]) == (3, 3)
    assert [k["id"] for k in first["items"] + rest["items"]] == keys
    for query, field in (({"limit": 0}, "limit"), ({"colour": "red"}, "colour")):
        refused = suite.http("GET", path, params=query, headers=owner.auth)
        assert refused.status_code == 422
        assert list(refused.json()["error"]["fields"]) == [field]


def test_a_manual_payment_answers_with_the_reference_it_was_given(
    suite: Suite, owner: Person, staff: Person
) -> None:
    org_id = suite.new_org(owner)["id"]
    invoice_id = finalized_invoice(suite, with_billing_account(suite, owner, org_id))
    reference = f"FT-{uuid.uuid4().hex[:8]}"
    body = {"invoice_id": invoice_id, "amount": 500, "method": "BANK_TRANSFER"}
    payment = created(
        suite, staff, f"/v1/admin/organizations/{org_id}/payments", body | {"reference": reference}
    )
    assert payment["reference"] == reference
    assert "external_id" not in payment
    again = suite.http(
        "POST",
        f"/v1/admin/organizations/{org_id}/payments",
        json=body | {"reference": reference},
        headers=staff.auth,
    )
    assert (again.status_code, list(again.json()["error"]["fields"])) == (409, ["reference"])


def test_usage_reports_take_days_as_well_as_moments(suite: Suite, owner: Person) -> None:
    org_id = suite.new_org(owner)["id"]
    terminal = {"X-API-Key": new_key(suite, owner, org_id, ["usage:write"])["key"]}
    event = {"event_type": "pos.receipt", "quantity": 7, "idempotency_key": "day-1"}
    assert suite.http("POST", "/v1/usage-events", json=event, headers=terminal).status_code == 202
    today = utcnow().date()
    path = f"/v1/organizations/{org_id}/usage"
    days = {"from": (today - timedelta(days=1)).isoformat(), "to": str(today + timedelta(days=1))}
    moments = {key: f"{value}T00:00:00+00:00" for key, value in days.items()}

    def receipts(query: dict[str, str]) -> int:
        response = suite.http("GET", path, params=query, headers=owner.auth)
        assert response.status_code == 200, response.text
        rows = response.json()["rows"]
        return sum(r["quantity"] for r in rows if r["event_type"] == "pos.receipt")

    wait_until(lambda: receipts(days) == 7, 20, "metering to store the event")
    assert receipts(moments) == 7
    refused = suite.http("GET", path, params={**days, "from": "2026-13-01"}, headers=owner.auth)
    assert refused.status_code == 422
    assert list(refused.json()["error"]["fields"]) == ["from"]


def test_the_staff_trail_merges_every_service_newest_first_and_pages_across_them(
    suite: Suite, owner: Person, staff: Person
) -> None:
    org_id = suite.new_org(owner)["id"]
    with_billing_account(suite, owner, org_id)
    lease = {"type": "POS_TERMINAL", "name": "Till", "monthly_fee": 1000}
    created(suite, staff, f"/v1/admin/organizations/{org_id}/services", lease)
    ticket = {"subject": "Trail", "description": "A row in support's trail"}
    created(suite, owner, f"/v1/organizations/{org_id}/tickets", ticket)

    def trail(caller: Person, path: str, **query: object) -> dict:
        response = suite.http("GET", path, params=query, headers=caller.auth)
        assert response.status_code == 200, response.text
        return response.json()

    staff_path = "/v1/admin/audit"
    reads = [trail(staff, staff_path, organization_id=org_id, limit=200)]

    def settled() -> dict | None:
        """The trail once what the requests set off (events, emails) has left its rows: the
        last of them is notifications' record of the ticket's email to staff."""
        reads.append(trail(staff, staff_path, organization_id=org_id, limit=200))
        emailed = any(
            row["action"] == "email.sent"
            and row["metadata"].get("template") == "support-ticket-created"
            for row in reads[-1]["items"]
        )
        return reads[-1] if emailed and reads[-1] == reads[-2] else None

    whole = wait_until(settled, 30, "the organization's trail to settle", interval=1.0)
    assert {"identity", "billing", "support"} <= {row["service"] for row in whole["items"]}
    assert whole["total"] == len(whole["items"])
    moments = [datetime.fromisoformat(row["timestamp"]) for row in whole["items"]]
    assert moments == sorted(moments, reverse=True)
    paged = [
        row
        for offset in range(0, whole["total"], 2)
        for row in trail(staff, staff_path, organization_id=org_id, limit=2, offset=offset)["items"]
    ]
    assert paged == whole["items"]
    own = trail(owner, f"/v1/organizations/{org_id}/audit", limit=200)
    assert own == whole
    refused = suite.http(
        "GET", staff_path, params={"offset": 1990, "limit": 20}, headers=staff.auth
    )
    assert (refused.status_code, list(refused.json()["error"]["fields"])) == (422, ["offset"])
