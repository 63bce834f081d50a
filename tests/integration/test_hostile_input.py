"""Hostile input through real HTTP (and straight over RPC, as a caller that is not the
gateway): every case gets a 4xx JSON error in the one shape naming the field, never a 5xx,
and nothing is written. A usage batch mixing good and bad events keeps the good ones. And
the hardening headers every answer carries."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
import requests

from gateway.pages import DOCS_PAGE
from shared.clock import utcnow
from shared.errors import DomainError, ValidationFailed
from shared.ids import cuid
from shared.input_gate import MAX_DEPTH
from shared.waiting import wait_until
from tests.integration.conftest import PASSWORD, Person, Suite

pytestmark = pytest.mark.integration

NUL = "a\u0000b"
LONE_SURROGATE = "\ud800"
BAD_TEXTS = pytest.mark.parametrize("bad", [NUL, LONE_SURROGATE], ids=["nul", "surrogate"])


@pytest.fixture(scope="module")
def owner(suite: Suite) -> Person:
    return suite.new_person()


@pytest.fixture(scope="module")
def org(suite: Suite, owner: Person) -> dict:
    return suite.new_org(owner)


def raw_json(body: Any) -> bytes:
    """JSON text as a hostile client writes it: NUL and lone surrogates as escapes."""
    return json.dumps(body, ensure_ascii=True).encode()


def send(
    suite: Suite, method: str, path: str, body: Any = None, person: Person | None = None, **kw: Any
) -> requests.Response:
    headers = {"Content-Type": "application/json", **(person.auth if person else {})}
    headers |= kw.pop("headers", {})
    data = body if isinstance(body, bytes) or body is None else raw_json(body)
    return suite.http(method, path, data=data, headers=headers, **kw)


def refused(response: requests.Response, status: int, field: str) -> dict:
    """Assert a 4xx in the one error shape naming `field`; returns the error."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert field in error.get("fields", {}), error
    assert error["request_id"] == response.headers["X-Request-Id"]
    return error


def count(suite: Suite, statement: str, **params: object) -> int:
    return suite.sql(statement, **params)[0][0]


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


# Parsing


def test_json_nested_a_thousand_deep_is_refused_naming_where(suite: Suite) -> None:
    deep = b"[" * 1000 + b"]" * 1000
    response = send(
        suite, "POST", "/v1/auth/sign-in", b'{"email": "a@b.co", "password": ' + deep + b"}"
    )
    refused(response, 422, "password" + ".0" * (MAX_DEPTH - 1))
    top_level = send(suite, "POST", "/v1/auth/sign-in", deep)
    refused(top_level, 422, ".".join(["0"] * MAX_DEPTH))


def test_nan_is_not_json(suite: Suite) -> None:
    response = send(suite, "POST", "/v1/auth/sign-in", b'{"email": "a@b.co", "password": NaN}')
    refused(response, 400, "_body")


# Bodies


@BAD_TEXTS
def test_sign_up_name(suite: Suite, bad: str) -> None:
    address = f"hostile-{uuid.uuid4().hex[:8]}@example.co.zw"
    body = {"email": address, "password": PASSWORD, "name": bad}
    refused(send(suite, "POST", "/v1/auth/sign-up", body), 422, "name")
    assert count(suite, "SELECT count(*) FROM identity.users WHERE email = :e", e=address) == 0


@BAD_TEXTS
@pytest.mark.parametrize("field", ["name", "address"])
def test_organization_name_and_address(suite: Suite, owner: Person, bad: str, field: str) -> None:
    before = count(suite, "SELECT count(*) FROM identity.organizations")
    body = {"name": "Hostile Stores", "email": "ops@example.co.zw", field: bad}
    refused(send(suite, "POST", "/v1/organizations", body, owner), 422, field)
    assert count(suite, "SELECT count(*) FROM identity.organizations") == before


@BAD_TEXTS
def test_organization_update(suite: Suite, owner: Person, org: dict, bad: str) -> None:
    response = send(suite, "PATCH", f"/v1/organizations/{org['id']}", {"name": bad}, owner)
    refused(response, 422, "name")
    name = suite.sql("SELECT name FROM identity.organizations WHERE id = :o", o=org["id"])
    assert name == [(org["name"],)]


@BAD_TEXTS
def test_api_key_name(suite: Suite, owner: Person, org: dict, bad: str) -> None:
    body = {"name": bad, "scopes": ["pos:read"]}
    path = f"/v1/organizations/{org['id']}/api-keys"
    refused(send(suite, "POST", path, body, owner), 422, "name")
    keys = "SELECT count(*) FROM identity.api_keys WHERE organization_id = :o"
    assert count(suite, keys, o=org["id"]) == 0


@BAD_TEXTS
@pytest.mark.parametrize(
    "path", ["/v1/auth/verify-email", "/v1/auth/password-reset/confirm", "/v1/invitations/accept"]
)
def test_emailed_tokens(suite: Suite, owner: Person, bad: str, path: str) -> None:
    body = {"token": f"tok{bad}en"}
    if "password-reset" in path:
        body["password"] = PASSWORD
    refused(send(suite, "POST", path, body, owner), 422, "token")


@BAD_TEXTS
def test_staff_service_name(suite: Suite, staff: Person, org: dict, bad: str) -> None:
    body = {"type": "POS_TERMINAL", "name": bad, "monthly_fee": 1000}
    path = f"/v1/admin/organizations/{org['id']}/services"
    refused(send(suite, "POST", path, body, staff), 422, "name")
    services = "SELECT count(*) FROM billing.services WHERE organization_id = :o"
    assert count(suite, services, o=org["id"]) == 0


@pytest.mark.parametrize(
    "activated_at", ["0300-01-01T00:00:00+00:00", "9999-12-31T23:59:59-05:00"], ids=["300", "9999"]
)
def test_staff_service_activated_out_of_time(
    suite: Suite, staff: Person, org: dict, activated_at: str
) -> None:
    body = {
        "type": "POS_TERMINAL",
        "name": "Till",
        "monthly_fee": 1000,
        "activated_at": activated_at,
    }
    path = f"/v1/admin/organizations/{org['id']}/services"
    refused(send(suite, "POST", path, body, staff), 422, "activated_at")
    services = "SELECT count(*) FROM billing.services WHERE organization_id = :o"
    assert count(suite, services, o=org["id"]) == 0


@BAD_TEXTS
def test_payment_reference(suite: Suite, staff: Person, org: dict, bad: str) -> None:
    body = {"invoice_id": cuid(), "amount": 100, "method": "CASH", "reference": bad}
    path = f"/v1/admin/organizations/{org['id']}/payments"
    refused(send(suite, "POST", path, body, staff), 422, "reference")
    payments = (
        "SELECT count(*) FROM payments.payments WHERE billing_account_id IN "
        "(SELECT id FROM billing.billing_accounts WHERE organization_id = :o)"
    )
    assert count(suite, payments, o=org["id"]) == 0


@pytest.mark.parametrize("period", ["0000-01", "9999-12", "2026-13"])
def test_billing_run_for_a_month_out_of_time(suite: Suite, staff: Person, period: str) -> None:
    response = send(suite, "POST", "/v1/admin/billing-runs", {"period": period}, staff)
    refused(response, 422, "period")
    out_of_time = (
        "SELECT count(*) FROM billing.invoices "
        "WHERE period_start < '1970-01-01' OR period_start >= '3000-01-01'"
    )
    assert count(suite, out_of_time) == 0


def test_overdue_run_out_of_time(suite: Suite, staff: Person) -> None:
    body = {"as_of": "9999-12-31T23:59:59+00:00"}
    refused(send(suite, "POST", "/v1/admin/overdue-runs", body, staff), 422, "as_of")


@BAD_TEXTS
def test_event_type_name(suite: Suite, staff: Person, bad: str) -> None:
    body = {"name": f"pos.{bad}", "description": "hostile"}
    refused(send(suite, "POST", "/v1/admin/event-types", body, staff), 422, "name")
    assert (
        count(suite, "SELECT count(*) FROM metering.event_types WHERE description = 'hostile'") == 0
    )


def test_huge_integers_are_refused_naming_the_field(suite: Suite, staff: Person, org: dict) -> None:
    body = {"amount": 10**30, "reason": "hostile"}
    path = f"/v1/admin/organizations/{org['id']}/credits"
    refused(send(suite, "POST", path, body, staff), 422, "amount")
    prices = {"prices": {"pos.transaction": {"included": 0, "unit_price": 2**40}}}
    response = send(suite, "PATCH", "/v1/admin/billing-settings", prices, staff)
    refused(response, 422, "prices")


# Query strings and paths


@pytest.mark.parametrize(
    ("query", "field"),
    [("q=%00", "q"), ("q=a%00b", "q"), (f"offset={10**30}", "offset"), ("limit=10000", "limit")],
)
def test_staff_directory_query(suite: Suite, staff: Person, query: str, field: str) -> None:
    refused(suite.http("GET", f"/v1/admin/users?{query}", headers=staff.auth), 422, field)


def test_search_text_is_literal_even_when_it_is_not_utf8(suite: Suite, staff: Person) -> None:
    # Werkzeug keeps undecodable bytes percent-escaped, so the search text is "%ED%A0%80";
    # read as LIKE wildcards it would match this address.
    lookalike = suite.new_person(f"x-ed-a0-80-{uuid.uuid4().hex[:6]}@example.co.zw")
    literal = suite.new_person(f"x-50%_off-{uuid.uuid4().hex[:6]}@example.co.zw")
    undecodable = suite.http("GET", "/v1/admin/users?q=%ED%A0%80", headers=staff.auth)
    assert undecodable.status_code == 200, undecodable.text
    assert undecodable.json()["items"] == []
    wildcards = suite.http("GET", "/v1/admin/users?q=50%25_off", headers=staff.auth)
    assert [user["id"] for user in wildcards.json()["items"]] == [literal.user_id]
    assert lookalike.user_id not in {user["id"] for user in wildcards.json()["items"]}


def test_invoice_list_offset(suite: Suite, owner: Person, org: dict) -> None:
    path = f"/v1/organizations/{org['id']}/invoices?offset={10**30}"
    wait_until(
        lambda: suite.sql(
            "SELECT 1 FROM billing.billing_accounts WHERE organization_id = :o", o=org["id"]
        ),
        20,
        "billing to open the account",
    )
    refused(suite.http("GET", path, headers=owner.auth), 422, "offset")


@pytest.mark.parametrize("org_id", ["%00", "abc%00", "c" * 33])
def test_path_ids_that_cannot_exist_are_404(
    suite: Suite, owner: Person, staff: Person, org_id: str
) -> None:
    refused(suite.http("GET", f"/v1/organizations/{org_id}", headers=owner.auth), 404, "org_id")
    name = f"Till {uuid.uuid4().hex[:8]}"
    lease = {"type": "POS_TERMINAL", "name": name, "monthly_fee": 1000}
    response = send(suite, "POST", f"/v1/admin/organizations/{org_id}/services", lease, staff)
    refused(response, 404, "org_id")
    assert count(suite, "SELECT count(*) FROM billing.services WHERE name = :n", n=name) == 0


def test_other_path_values_with_nul_are_404(suite: Suite, staff: Person) -> None:
    response = send(suite, "PATCH", "/v1/admin/event-types/pos.%00", {"is_active": False}, staff)
    refused(response, 404, "name")


# Services defend themselves


def test_services_refuse_hostile_input_from_any_rpc_caller(suite: Suite, org: dict) -> None:
    with suite.rpc() as cluster:
        with pytest.raises(ValidationFailed) as caught:
            cluster.identity.list_all_users({"q": NUL})
        assert "q" in caught.value.fields
        with pytest.raises(ValidationFailed) as caught:
            cluster.billing.start_billing_run({"period": "0000-01"})
        assert "period" in caught.value.fields
        with pytest.raises(ValidationFailed) as caught:
            cluster.billing.add_service(
                org["id"],
                {"type": "POS_TERMINAL", "name": LONE_SURROGATE, "monthly_fee": 1},
            )
        assert "name" in caught.value.fields
        # Past every schema: the database refuses the value, and that is a 4xx too.
        with pytest.raises(ValidationFailed) as caught:
            cluster.metering.update_event_type(f"pos.{NUL}", {"is_active": False})
        assert caught.value.status == 422
        with pytest.raises(DomainError):
            cluster.identity.get_organization(NUL)


# Usage


def test_a_usage_batch_keeps_its_good_events_and_refuses_the_unstorable_ones(
    suite: Suite, owner: Person
) -> None:
    org = suite.new_org(owner)
    created = send(
        suite, "POST", f"/v1/organizations/{org['id']}/api-keys",
        {"name": "till", "scopes": ["usage:write"]}, owner,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    terminal = {"X-API-Key": created.json()["key"]}

    def event(key: str, quantity: int, **extra: Any) -> dict:
        return {
            "event_type": "pos.transaction",
            "quantity": quantity,
            "idempotency_key": key,
        } | extra

    batch = {
        "events": [
            event("good-1", 2, event_data={"note": "fine ✓"}),
            event(f"bad-{NUL}", 100),
            event(f"bad-{LONE_SURROGATE}", 100),
            event("bad-data", 100, event_data={"note": LONE_SURROGATE}),
            event("bad-data-key", 100, event_data={NUL: 1}),
            event("bad-number", 100, event_data={"amount": 10**30}),
            event("bad-deep", 100, event_data={"a": nested(MAX_DEPTH)}),
            event("good-2", 3),
        ]
    }
    response = send(suite, "POST", "/v1/usage-events", batch, headers=terminal)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (2, 6)
    errors = {r["index"]: r.get("errors") for r in answer["results"] if r["status"] == "rejected"}
    assert list(errors[1]) == ["idempotency_key"]
    assert list(errors[2]) == ["idempotency_key"]
    assert list(errors[3]) == ["event_data.note"]
    assert list(errors[4]) == ["event_data.a\\u0000b"]
    assert list(errors[5]) == ["event_data.amount"]
    # The event is level 1, event_data 2, the outermost list 3: 30 lists in, one too many.
    assert list(errors[6]) == ["event_data.a" + ".0" * (MAX_DEPTH - 2)]

    def counted() -> int | None:
        now = utcnow()
        params = {
            "from": (now - timedelta(days=1)).isoformat(),
            "to": (now + timedelta(days=1)).isoformat(),
        }
        report = suite.http(
            "GET", f"/v1/organizations/{org['id']}/usage", params=params, headers=owner.auth
        )
        assert report.status_code == 200, report.text
        quantities = {row["event_type"]: row["quantity"] for row in report.json()["rows"]}
        return quantities.get("pos.transaction")

    assert wait_until(lambda: counted() == 5, 30, "metering to count the two good events")
    stored = suite.sql(
        "SELECT idempotency_key FROM metering.usage_events "
        "WHERE organization_id = :o AND event_type = 'pos.transaction' ORDER BY 1",
        o=org["id"],
    )
    assert stored == [("good-1",), ("good-2",)]


def test_a_single_unstorable_event_is_refused(suite: Suite, owner: Person, org: dict) -> None:
    created = send(
        suite, "POST", f"/v1/organizations/{org['id']}/api-keys",
        {"name": "till", "scopes": ["usage:write"]}, owner,
    )  # fmt: skip
    terminal = {"X-API-Key": created.json()["key"]}
    body = {"event_type": "pos.transaction", "idempotency_key": NUL}
    response = send(suite, "POST", "/v1/usage-events", body, headers=terminal)
    assert response.status_code == 422, response.text
    assert "idempotency_key" in json.dumps(response.json())


# Response headers


def test_every_answer_is_nosniff_and_not_stored(suite: Suite, owner: Person, org: dict) -> None:
    signed_in = suite.http(
        "POST", "/v1/auth/sign-in", json={"email": owner.email, "password": PASSWORD}
    )
    key = send(
        suite, "POST", f"/v1/organizations/{org['id']}/api-keys",
        {"name": "secret", "scopes": ["pos:read"]}, owner,
    )  # fmt: skip
    for response in (
        suite.http("GET", "/v1/health"),
        suite.http("GET", "/v1/no-such-thing"),
        signed_in,
        key,
        suite.http("GET", "/v1/docs"),
    ):
        assert response.status_code < 500
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


def test_a_405_names_the_allowed_methods(suite: Suite) -> None:
    response = suite.http("PUT", "/v1/health")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


def test_a_401_has_no_retry_after(suite: Suite) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-session"}, {"X-API-Key": "not-a-key"}):
        response = suite.http("GET", "/v1/me", headers=headers)
        assert response.status_code == 401, response.text
        assert "Retry-After" not in response.headers


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_html_pages_have_a_strict_content_security_policy_that_lets_them_work(
    suite: Suite, owner: Person
) -> None:
    docs = suite.http("GET", "/v1/docs")
    policy = docs.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy
    [script] = re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)
    assert script in DOCS_PAGE and csp_hash(script) in policy
    assert "connect-src 'self'" in policy

    org = suite.new_org(owner)
    account = wait_until(
        lambda: suite.sql(
            "SELECT id FROM billing.billing_accounts WHERE organization_id = :o", o=org["id"]
        ),
        20,
        "billing to open the account",
    )[0][0]
    invoice_id = cuid()
    suite.sql(
        "INSERT INTO billing.invoices (id, billing_account_id, invoice_number, period_start, "
        "period_end, subtotal, tax, total, amount_paid, amount_due, status, issued_at, due_at, "
        "finalized_at) VALUES (:id, :account, :number, '1999-01-01', '1999-02-01', 100, 0, 100, "
        "0, 100, 'ISSUED', now(), now() + interval '14 days', now())",
        id=invoice_id, account=account, number=f"INV-1999-{invoice_id[-6:]}",
    )  # fmt: skip
    page = suite.http(
        "GET", f"/v1/organizations/{org['id']}/invoices/{invoice_id}/html", headers=owner.auth
    )
    assert page.status_code == 200, page.text
    [style] = re.findall(r"<style>(.*?)</style>", page.text, re.DOTALL)
    assert csp_hash(style) in page.headers["Content-Security-Policy"]
    assert "<script" not in page.text


def test_control_characters_in_headers_are_not_stored(suite: Suite, owner: Person) -> None:
    response = suite.http(
        "POST",
        "/v1/auth/sign-in",
        json={"email": owner.email, "password": PASSWORD},
        headers={"User-Agent": "till\x00 v1\x07"},
    )
    assert response.status_code == 200, response.text
    agents = suite.sql(
        "SELECT user_agent FROM identity.sessions WHERE user_id = :u", u=owner.user_id
    )
    assert ("till v1",) in agents
