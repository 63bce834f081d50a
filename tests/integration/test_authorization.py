"""Walks docs/authorization.md against the running suite: every endpoint, every kind of
caller. Allowed calls succeed, refused ones get 403, another organization's people get
404, and missing, expired or revoked credentials get 401."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.access_table import ALLOWED, ANYONE, COLUMNS, REFUSED, rows
from shared.ids import cuid
from shared.tokens import new_secret, secret_hash
from shared.waiting import wait_until
from tests.integration.conftest import PASSWORD, Person, Suite

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "authorization.md"
ROLES = ("OWNER", "ADMIN", "MEMBER", "BILLING")
TABLE = {row[0].strip("`"): dict(zip(COLUMNS, row[2:], strict=True)) for row in rows()}


@dataclass
class World:
    """A fresh organization with one member of each role and a spare MEMBER to act on."""

    org_id: str
    spare_member_id: str


@pytest.fixture(scope="module")
def people(suite: Suite) -> dict[str, Person]:
    return {name: suite.new_person() for name in (*ROLES, "outsider", "spare")}


@pytest.fixture(scope="module")
def outsider_org(suite: Suite, people: dict[str, Person]) -> dict:
    return suite.new_org(people["outsider"])


def add_member(suite: Suite, org_id: str, person: Person, role: str) -> str:
    member_id = cuid()
    suite.sql(
        "INSERT INTO identity.organization_members (id, organization_id, user_id, role) "
        "VALUES (:id, :org, :user, CAST(:role AS identity.\"MemberRole\"))",
        id=member_id, org=org_id, user=person.user_id, role=role,
    )  # fmt: skip
    return member_id


def new_world(suite: Suite, people: dict[str, Person]) -> World:
    org = suite.new_org(people["OWNER"])
    for role in ("ADMIN", "MEMBER", "BILLING"):
        add_member(suite, org["id"], people[role], role)
    return World(org["id"], add_member(suite, org["id"], people["spare"], "MEMBER"))


def api_key(suite: Suite, owner: Person, org_id: str, scopes: list[str]) -> str:
    response = suite.http(
        "POST", f"/v1/organizations/{org_id}/api-keys", headers=owner.auth,
        json={"name": "matrix", "scopes": scopes},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()["key"]


def created_id(suite: Suite, owner: Person, path: str, body: dict) -> str:
    response = suite.http("POST", path, json=body, headers=owner.auth)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def billing_account_id(suite: Suite, org_id: str) -> str:
    rows = wait_until(
        lambda: suite.sql(
            "SELECT id FROM billing.billing_accounts WHERE organization_id = :o", o=org_id
        ),
        20,
        "billing to open the account",
    )
    return rows[0][0]


def once_billed(suite: Suite, org_id: str, path: str) -> str:
    """`path`, once billing has opened the organization's account."""
    billing_account_id(suite, org_id)
    return path


def finalized_invoice(suite: Suite, org_id: str, payment_token: str | None = None) -> str:
    """Arranged directly in billing's tables: these tests are about who may see it."""
    invoice_id = cuid()
    suite.sql(
        "INSERT INTO billing.invoices (id, billing_account_id, invoice_number, period_start, "
        "period_end, subtotal, tax, total, amount_paid, amount_due, status, issued_at, due_at, "
        "finalized_at, payment_token, payment_token_expires_at) VALUES (:id, :account, :number, "
        "'1999-01-01', '1999-02-01', 100, 0, 100, 0, 100, 'ISSUED', now(), "
        "now() + interval '14 days', now(), :token, now() + interval '30 days')",
        id=invoice_id,
        account=billing_account_id(suite, org_id),
        number=f"INV-1999-{invoice_id[-6:]}",
        token=payment_token,
    )
    return invoice_id


def card_payment(suite: Suite, payer: Person, org_id: str, invoice_id: str = "") -> str:
    """A web checkout started on the invoice (default: a fresh one): its payment id."""
    invoice_id = invoice_id or finalized_invoice(suite, org_id)
    path = f"/v1/organizations/{org_id}/invoices/{invoice_id}/payments"
    return created_id(suite, payer, path, {"method": "visa"})


def ticket(suite: Suite, opener: Person, org_id: str) -> str:
    """A ticket opened in the organization: its id."""
    body = {"subject": "The till beeps", "description": "Since this morning."}
    return created_id(suite, opener, f"/v1/organizations/{org_id}/tickets", body)


Request = tuple[str, dict | None]
OrgRequest = Callable[[Suite, World, Person], Request]


def _fresh_email() -> str:
    return f"invitee-{uuid.uuid4().hex[:8]}@example.co.zw"


ORG_REQUESTS: dict[str, OrgRequest] = {
    "GET /v1/organizations/{org_id}": lambda s, w, o: (f"/v1/organizations/{w.org_id}", None),
    "PATCH /v1/organizations/{org_id}": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}", {"city": "Bulawayo"}),
    "DELETE /v1/organizations/{org_id}": lambda s, w, o: (f"/v1/organizations/{w.org_id}", None),
    "POST /v1/organizations/{org_id}/transfer-ownership": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/transfer-ownership", {"member_id": w.spare_member_id}),
    "GET /v1/organizations/{org_id}/members": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/members", None),
    "PATCH /v1/organizations/{org_id}/members/{member_id}": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/members/{w.spare_member_id}", {"role": "BILLING"}),
    "DELETE /v1/organizations/{org_id}/members/{member_id}": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/members/{w.spare_member_id}", None),
    "POST /v1/organizations/{org_id}/invitations": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/invitations", {"email": _fresh_email(), "role": "MEMBER"}),
    "GET /v1/organizations/{org_id}/invitations": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/invitations", None),
    "DELETE /v1/organizations/{org_id}/invitations/{invitation_id}": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/invitations/"
        + created_id(s, o, f"/v1/organizations/{w.org_id}/invitations", {"email": _fresh_email()}),
        None),
    "POST /v1/organizations/{org_id}/api-keys": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/api-keys", {"name": "till", "scopes": ["pos:read"]}),
    "GET /v1/organizations/{org_id}/services": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/services", None),
    "GET /v1/organizations/{org_id}/billing-account": lambda s, w, o: (
        once_billed(s, w.org_id, f"/v1/organizations/{w.org_id}/billing-account"), None),
    "GET /v1/organizations/{org_id}/invoices": lambda s, w, o: (
        once_billed(s, w.org_id, f"/v1/organizations/{w.org_id}/invoices"),
        None),
    "GET /v1/organizations/{org_id}/invoices/{invoice_id}": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/invoices/{finalized_invoice(s, w.org_id)}", None),
    "GET /v1/organizations/{org_id}/invoices/{invoice_id}/html": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/invoices/{finalized_invoice(s, w.org_id)}/html", None),
    "POST /v1/organizations/{org_id}/invoices/{invoice_id}/payments": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/invoices/{finalized_invoice(s, w.org_id)}/payments",
        {"method": "visa"}),
    "GET /v1/organizations/{org_id}/payments": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/payments", None),
    "GET /v1/organizations/{org_id}/payments/{payment_id}": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/payments/{card_payment(s, o, w.org_id)}", None),
    "POST /v1/organizations/{org_id}/tickets": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/tickets",
        {"subject": "The till beeps", "description": "Since this morning.", "priority": "HIGH"}),
    "GET /v1/organizations/{org_id}/tickets": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/tickets?q=till", None),
    "GET /v1/organizations/{org_id}/tickets/{ticket_id}": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/tickets/{ticket(s, o, w.org_id)}", None),
    "GET /v1/organizations/{org_id}/tickets/{ticket_id}/messages": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/tickets/{ticket(s, o, w.org_id)}/messages", None),
    "POST /v1/organizations/{org_id}/tickets/{ticket_id}/messages": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/tickets/{ticket(s, o, w.org_id)}/messages",
        {"message": "Still beeping."}),
    "POST /v1/organizations/{org_id}/tickets/{ticket_id}/close": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/tickets/{ticket(s, o, w.org_id)}/close", None),
    "GET /v1/organizations/{org_id}/credits": lambda s, w, o: (
        once_billed(s, w.org_id, f"/v1/organizations/{w.org_id}/credits"),
        None),
    "GET /v1/organizations/{org_id}/usage": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/usage?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z",
        None),
    "GET /v1/organizations/{org_id}/api-keys": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/api-keys", None),
    "GET /v1/organizations/{org_id}/ledger": lambda s, w, o: (
        once_billed(s, w.org_id, f"/v1/organizations/{w.org_id}/ledger"), None),
    "GET /v1/organizations/{org_id}/audit": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/audit?entity_type=Organization", None),
    "DELETE /v1/organizations/{org_id}/api-keys/{api_key_id}": lambda s, w, o: (
        f"/v1/organizations/{w.org_id}/api-keys/"
        + created_id(s, o, f"/v1/organizations/{w.org_id}/api-keys",
                     {"name": "x", "scopes": ["pos:read"]}),
        None),
}  # fmt: skip


def signed_in_request(suite: Suite, endpoint: str, person: Person) -> Request:
    """A request that succeeds for `person` (some need setting up first)."""
    if endpoint == "POST /v1/auth/password":
        return "/v1/auth/password", {"current_password": PASSWORD, "new_password": PASSWORD}
    if endpoint == "PATCH /v1/me":
        return "/v1/me", {"name": "Matrix Person", "image": "https://img.example.co.zw/a.png"}
    if endpoint == "POST /v1/organizations":
        return "/v1/organizations", {"name": "Matrix Org", "email": "m@example.co.zw"}
    if endpoint == "POST /v1/invitations/accept":
        owner = suite.new_person()
        org = suite.new_org(owner)
        created_id(suite, owner, f"/v1/organizations/{org['id']}/invitations",
                   {"email": person.email})  # fmt: skip
        return "/v1/invitations/accept", {"token": suite.link_token(person.email, "invited")}
    if endpoint == "POST /v1/admin/event-types":
        return "/v1/admin/event-types", {"name": f"pos.t{uuid.uuid4().hex[:8]}", "description": "t"}
    if endpoint == "PATCH /v1/admin/event-types/{name}":
        return "/v1/admin/event-types/pos.receipt", {"description": "A receipt"}
    if endpoint.startswith(("POST /v1/admin/", "PATCH /v1/admin/")) or "{" in endpoint:
        return staff_request(suite, endpoint, person)
    if endpoint == "POST /v1/usage-events":
        return "/v1/usage-events", {"event_type": "pos.transaction", "idempotency_key": cuid()}
    return endpoint.split(" ", 1)[1], None


def staff_request(suite: Suite, endpoint: str, staff: Person) -> Request:
    """Staff endpoints' requests; their organizations and invoices are made for them."""
    if endpoint == "GET /v1/admin/settings/{service}":
        return "/v1/admin/settings/support", None
    if endpoint == "PATCH /v1/admin/settings/{service}":
        return "/v1/admin/settings/support", {}  # changes nothing: tests share the suite
    if endpoint == "PATCH /v1/admin/billing-settings":
        return "/v1/admin/billing-settings", {"invoice.due_days": 14}
    if endpoint == "POST /v1/admin/billing-runs":
        return "/v1/admin/billing-runs", {"period": "1999-01"}
    if endpoint == "GET /v1/admin/billing-runs/{run_id}":
        run = suite.http(
            "POST", "/v1/admin/billing-runs", json={"period": "1999-01"}, headers=staff.auth
        )
        assert run.status_code == 202, run.text
        return run.headers["Location"], None
    if endpoint == "POST /v1/admin/overdue-runs":
        return "/v1/admin/overdue-runs", {"as_of": "1999-01-01T00:00:00+00:00"}
    if "{user_id}" in endpoint:
        return endpoint.split(" ", 1)[1].replace("{user_id}", suite.new_person().user_id), None
    if "{email_id}" in endpoint:
        return endpoint.split(" ", 1)[1].replace("{email_id}", sent_email(suite, staff)), None
    org_id = suite.new_org(staff)["id"]
    service = {"type": "POS_TERMINAL", "name": "Till", "monthly_fee": 1000}
    if endpoint == "POST /v1/admin/organizations/{org_id}/services":
        return f"/v1/admin/organizations/{org_id}/services", service
    if "{service_id}" in endpoint:
        service_id = created_id(suite, staff, f"/v1/admin/organizations/{org_id}/services", service)
        path = endpoint.split(" ", 1)[1].replace("{service_id}", service_id)
        return path.replace("{action}", "suspend"), SERVICE_BODIES.get(endpoint)
    if endpoint in ORGANIZATION_BODIES:
        billing_account_id(suite, org_id)
        path = endpoint.split(" ", 1)[1].replace("{org_id}", org_id)
        return path, ORGANIZATION_BODIES[endpoint]
    if "{ticket_id}" in endpoint:
        return ticket_request(suite, endpoint, staff, ticket(suite, staff, org_id))
    invoice_id = finalized_invoice(suite, org_id)
    if endpoint == "POST /v1/admin/invoices/{invoice_id}/void":
        return f"/v1/admin/invoices/{invoice_id}/void", None
    if endpoint == "POST /v1/admin/payments/{payment_id}/check":
        return f"/v1/admin/payments/{card_payment(suite, staff, org_id, invoice_id)}/check", None
    if endpoint == "POST /v1/admin/organizations/{org_id}/payments":
        payment = {"invoice_id": invoice_id, "amount": 100, "method": "CASH"}
        return f"/v1/admin/organizations/{org_id}/payments", payment
    return endpoint.split(" ", 1)[1], None


SERVICE_BODIES: dict[str, dict] = {
    "POST /v1/admin/services/{service_id}/{action}": {},
    "PATCH /v1/admin/services/{service_id}": {"monthly_fee": 2000, "name": "Till 2"},
}
# Staff requests on an organization whose billing account is open.
ORGANIZATION_BODIES: dict[str, dict | None] = {
    "POST /v1/admin/organizations/{org_id}/credits": {"amount": 100, "reason": "test"},
    "PATCH /v1/admin/organizations/{org_id}/billing-account": {"grace_period_days": 10},
    "GET /v1/admin/organizations/{org_id}/ledger": None,
}


def sent_email(suite: Suite, staff: Person) -> str:
    """The id of a sent email that holds no link (a resend of a used link is refused): the
    one telling a fresh person that someone tried to sign up with their address."""
    address = suite.new_person().email
    signing_up = suite.http(
        "POST", "/v1/auth/sign-up", json={"email": address, "password": PASSWORD}
    )
    assert signing_up.status_code == 202, signing_up.text
    query = {"recipient": address, "template": "sign-up-attempted", "status": "SENT"}

    def sent() -> list[dict]:
        response = suite.http("GET", "/v1/admin/emails", params=query, headers=staff.auth)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    return wait_until(sent, 20, "the email log to show the sent email")[0]["id"]


TICKET_BODIES: dict[str, dict] = {
    "PATCH /v1/admin/tickets/{ticket_id}": {"priority": "URGENT"},
    "POST /v1/admin/tickets/{ticket_id}/messages": {"message": "Looking", "internal": True},
    "POST /v1/admin/tickets/{ticket_id}/status": {"status": "IN_PROGRESS"},
}


def ticket_request(suite: Suite, endpoint: str, staff: Person, ticket_id: str) -> Request:
    """Staff's requests on a real ticket (one staff opened in an organization of theirs)."""
    path = endpoint.split(" ", 1)[1].replace("{ticket_id}", ticket_id)
    if endpoint == "POST /v1/admin/tickets/{ticket_id}/assign":
        return path, {"assigned_to_id": staff.user_id}
    return path, TICKET_BODIES.get(endpoint)


def call(suite: Suite, endpoint: str, request: Request, headers: dict[str, str]) -> int:
    method = endpoint.split(" ", 1)[0]
    path, body = request
    return suite.http(method, path, json=body, headers=headers).status_code


def expect(cell: str, status: int, endpoint: str, caller: str) -> None:
    if cell == REFUSED:
        assert status == 403, f"{caller} on {endpoint}: {status}, expected 403"
    else:
        assert 200 <= status < 300, f"{caller} on {endpoint}: {status}, expected success"


def test_the_document_holds_exactly_the_code_s_table() -> None:
    documented = [
        tuple(cell.strip() for cell in line.strip().strip("|").split("|"))
        for line in DOC.read_text().splitlines()
        if line.startswith("| `")
    ]
    assert documented == rows()


def test_every_endpoint_is_walked_below() -> None:
    walked = set(ORG_REQUESTS) | {e for e, c in TABLE.items() if c["OWNER"] == ANYONE}
    walked |= {e for e, c in TABLE.items() if c["OWNER"] == ALLOWED and "{org_id}" not in e}
    walked |= {e for e, c in TABLE.items() if c["staff"] == ALLOWED and c["OWNER"] == REFUSED}
    walked |= {e for e, c in TABLE.items() if c["API key"].startswith("`") and "{org_id}" not in e}
    assert walked == set(TABLE), f"not walked: {set(TABLE) - walked}"


@pytest.mark.parametrize("endpoint", sorted(ORG_REQUESTS))
def test_organization_endpoints(
    suite: Suite, people: dict[str, Person], staff: Person, outsider_org: dict, endpoint: str
) -> None:
    cells = TABLE[endpoint]
    for role in ROLES:
        world = new_world(suite, people)
        status = call(suite, endpoint, ORG_REQUESTS[endpoint](suite, world, people["OWNER"]),
                      people[role].auth)  # fmt: skip
        expect(cells[role], status, endpoint, role)

    world = new_world(suite, people)
    request = ORG_REQUESTS[endpoint](suite, world, people["OWNER"])
    assert call(suite, endpoint, request, {}) == 401, "no credentials"
    assert call(suite, endpoint, request, {"Authorization": "Bearer forged"}) == 401
    assert call(suite, endpoint, request, people["outsider"].auth) == 404, "another organization"
    key = api_key(suite, people["OWNER"], world.org_id, ["pos:read", "pos:write", "usage:read"])
    expect(cells["API key"], call(suite, endpoint, request, {"X-API-Key": key}), endpoint, "key")
    outsider_key = api_key(suite, people["outsider"], outsider_org["id"], ["pos:read"])
    assert call(suite, endpoint, request, {"X-API-Key": outsider_key}) in (403, 404)
    expect(cells["staff"], call(suite, endpoint, request, staff.auth), endpoint, "staff")


@pytest.mark.parametrize(
    "endpoint",
    sorted(e for e, c in TABLE.items() if c["OWNER"] == ALLOWED and "{org_id}" not in e),
)
def test_endpoints_for_any_signed_in_person(
    suite: Suite, people: dict[str, Person], staff: Person, endpoint: str
) -> None:
    person = suite.new_person()
    status = call(suite, endpoint, signed_in_request(suite, endpoint, person), person.auth)
    expect(TABLE[endpoint]["OWNER"], status, endpoint, "a person")
    fresh_staff = suite.sign_in(staff.email)
    if endpoint != "POST /v1/invitations/accept":
        status = call(suite, endpoint, signed_in_request(suite, endpoint, fresh_staff),
                      fresh_staff.auth)  # fmt: skip
        expect(TABLE[endpoint]["staff"], status, endpoint, "staff")
    request = signed_in_request(suite, endpoint, suite.new_person())
    assert call(suite, endpoint, request, {}) == 401
    org = suite.new_org(people["OWNER"])
    key = api_key(suite, people["OWNER"], org["id"], ["pos:read", "pos:write"])
    expect(TABLE[endpoint]["API key"], call(suite, endpoint, request, {"X-API-Key": key}),
           endpoint, "key")  # fmt: skip


@pytest.mark.parametrize(
    "endpoint",
    sorted(e for e, c in TABLE.items() if c["staff"] == ALLOWED and c["OWNER"] == REFUSED),
)
def test_staff_endpoints(
    suite: Suite, people: dict[str, Person], staff: Person, endpoint: str
) -> None:
    request = signed_in_request(suite, endpoint, staff)
    expect(ALLOWED, call(suite, endpoint, request, staff.auth), endpoint, "staff")
    for role in ROLES:
        expect(REFUSED, call(suite, endpoint, request, people[role].auth), endpoint, role)
    assert call(suite, endpoint, request, {}) == 401


@pytest.mark.parametrize(
    "endpoint",
    sorted(e for e, c in TABLE.items() if c["API key"].startswith("`") and "{org_id}" not in e),
)
def test_terminal_endpoints(suite: Suite, people: dict[str, Person], endpoint: str) -> None:
    scope = TABLE[endpoint]["API key"].strip("`")
    org = suite.new_org(people["OWNER"])
    request = signed_in_request(suite, endpoint, people["OWNER"])
    with_scope = api_key(suite, people["OWNER"], org["id"], [scope])
    without = api_key(suite, people["OWNER"], org["id"], ["usage:read"])
    expect(ALLOWED, call(suite, endpoint, request, {"X-API-Key": with_scope}), endpoint, "key")
    expect(REFUSED, call(suite, endpoint, request, {"X-API-Key": without}), endpoint, "key")
    expect(REFUSED, call(suite, endpoint, request, people["OWNER"].auth), endpoint, "person")
    assert call(suite, endpoint, request, {}) == 401
    assert call(suite, endpoint, request, {"X-API-Key": "not-a-key"}) == 401


@pytest.mark.parametrize(
    "endpoint", sorted(e for e, c in TABLE.items() if c["OWNER"] == ANYONE and e.startswith("GET"))
)
def test_public_endpoints_need_no_credentials(
    suite: Suite, people: dict[str, Person], endpoint: str
) -> None:
    assert call(suite, endpoint, (public_path(suite, people["OWNER"], endpoint), None), {}) == 200


def public_path(suite: Suite, owner: Person, endpoint: str) -> str:
    """The path, its payment-link token and payment (if it names them) made real."""
    path = endpoint.split(" ", 1)[1]
    if "{token}" not in path:
        return path
    token = new_secret()
    finalized_invoice(suite, suite.new_org(owner)["id"], payment_token=token)
    path = path.replace("{token}", token)
    if "{payment_id}" in path:
        payment_id = created_id(suite, owner, f"/v1/pay/{token}/payments", {"method": "visa"})
        path = path.replace("{payment_id}", payment_id)
    return path


def test_expired_and_signed_out_sessions_and_expired_keys_get_401(
    suite: Suite, people: dict[str, Person]
) -> None:
    owner = people["OWNER"]
    org = suite.new_org(owner)
    key = api_key(suite, owner, org["id"], ["pos:read"])
    suite.sql(
        "UPDATE identity.api_keys SET expires_at = now() - interval '1 minute' WHERE key_hash = :h",
        h=secret_hash(key),
    )
    assert suite.http("GET", "/v1/terminal/whoami", headers={"X-API-Key": key}).status_code == 401

    session = suite.sign_in(owner.email)
    assert suite.http("GET", "/v1/me", headers=session.auth).status_code == 200
    suite.sql(
        "UPDATE identity.sessions SET expires_at = now() - interval '1 second' "
        "WHERE token_hash = :h",
        h=secret_hash(session.session),
    )
    assert suite.http("GET", "/v1/me", headers=session.auth).status_code == 401

    other = suite.sign_in(owner.email)
    assert suite.http("POST", "/v1/auth/sign-out", headers=other.auth).status_code == 200
    assert suite.http("GET", "/v1/me", headers=other.auth).status_code == 401


def test_the_billing_account_shows_only_to_roles_that_may_view_billing(
    suite: Suite, people: dict[str, Person], staff: Person
) -> None:
    """The seed: BILLING sees invoices, not services; MEMBER sees services, not the balance
    (neither on /billing-account nor inside the organization)."""
    world = new_world(suite, people)
    billing_account_id(suite, world.org_id)
    path = f"/v1/organizations/{world.org_id}"
    for caller, shown in (("OWNER", True), ("ADMIN", True), ("BILLING", True), ("MEMBER", False)):
        answer = suite.http("GET", path, headers=people[caller].auth)
        assert answer.status_code == 200, answer.text
        assert (answer.json()["billing_account"] is not None) is shown, caller
    assert suite.http("GET", path, headers=staff.auth).json()["billing_account"] is not None
    for caller, sub_path, status in (
        ("MEMBER", "/billing-account", 403),
        ("MEMBER", "/services", 200),
        ("BILLING", "/services", 403),
        ("BILLING", "/usage?from=2026-01-01&to=2026-02-01", 403),
        ("BILLING", "/invoices", 200),
    ):
        answer = suite.http("GET", path + sub_path, headers=people[caller].auth)
        assert answer.status_code == status, (caller, sub_path, answer.text)


def test_a_disabled_user_s_sessions_fail_at_once_and_their_organization_s_keys_work(
    suite: Suite, staff: Person
) -> None:
    person = suite.new_person()
    org_id = suite.new_org(person)["id"]
    key = api_key(suite, person, org_id, ["pos:read", "usage:read"])
    other_session = suite.sign_in(person.email)
    disabled = suite.http("POST", f"/v1/admin/users/{person.user_id}/disable", headers=staff.auth)
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["disabled_at"] is not None
    for session in (person, other_session):
        assert suite.http("GET", "/v1/me", headers=session.auth).status_code == 401
    signing_in = {"email": person.email, "password": PASSWORD}
    assert suite.http("POST", "/v1/auth/sign-in", json=signing_in).status_code == 403
    assert suite.http("GET", "/v1/terminal/whoami", headers={"X-API-Key": key}).status_code == 200

    enabled = suite.http("POST", f"/v1/admin/users/{person.user_id}/enable", headers=staff.auth)
    assert (enabled.status_code, enabled.json()["disabled_at"]) == (200, None)
    again = suite.sign_in(person.email)
    assert suite.http("GET", "/v1/me", headers=again.auth).status_code == 200
    assert suite.http("GET", "/v1/me", headers=person.auth).status_code == 401, "ended for good"
