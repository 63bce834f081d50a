"""The foundation's end-to-end path, over real HTTP, with every service a real process."""

from __future__ import annotations

import uuid

import pytest
from nameko.standalone.events import event_dispatcher

from gateway.openapi import build_spec
from gateway.routes import ROUTES
from services.identity.events import OrganizationCreated
from shared import context
from shared.waiting import wait_until
from tests.integration.conftest import ALLOWED_ORIGIN, MAX_BODY_BYTES, Person, Suite

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def owner(suite: Suite) -> Person:
    return suite.new_person()


def billing_account_of(suite: Suite, owner: Person, org_id: str) -> dict | None:
    response = suite.http("GET", f"/v1/organizations/{org_id}", headers=owner.auth)
    assert response.status_code == 200, response.text
    return response.json()["billing_account"]


def count_organizations(suite: Suite) -> int:
    return suite.sql("SELECT count(*) FROM identity.organizations")[0][0]


def test_ready_answers_for_every_service(suite: Suite) -> None:
    response = suite.http("GET", "/v1/ready")
    assert response.status_code == 200
    services = ["identity", "billing", "metering", "payments", "support", "notifications"]
    body = response.json()
    assert body["status"] == "ready"
    assert body["services"] == dict.fromkeys(services, "ok")
    # Parked messages need a person, but do not make the suite unready.
    assert set(body["dead_letters"]) == set(services)
    assert all(isinstance(n, int) and n >= 0 for n in body["dead_letters"].values())
    assert suite.http("GET", "/v1/health").json() == {"status": "ok"}


def test_new_organization_gets_an_active_billing_account(suite: Suite, owner: Person) -> None:
    org = suite.new_org(owner, slug=f"acme-{uuid.uuid4().hex[:6]}", city="Harare")
    assert org["country"] == "Zimbabwe"
    assert org["city"] == "Harare"

    account = wait_until(
        lambda: billing_account_of(suite, owner, org["id"]), 15, "billing to open the account"
    )
    assert account["organization_id"] == org["id"]
    assert account["status"] == "ACTIVE"
    assert account["balance"] == 0
    assert account["grace_period_days"] == 14
    detail = suite.http("GET", f"/v1/organizations/{org['id']}", headers=owner.auth).json()
    assert {k: v for k, v in detail.items() if k != "billing_account"} == org


def test_repeated_event_opens_no_second_account(suite: Suite, owner: Person) -> None:
    org = suite.new_org(owner)
    wait_until(lambda: billing_account_of(suite, owner, org["id"]), 15, "the first account")
    marker = f"redelivery-{uuid.uuid4().hex}"
    # Signed, as the suite's processes sign: an unsigned request id would be dropped.
    sender = context.CallContext(request_id=marker, actor_type=context.SYSTEM)
    dispatch = event_dispatcher({"AMQP_URI": suite.env.amqp_uri}, headers=sender.to_headers())
    repeat = OrganizationCreated(
        organization_id=org["id"],
        name=org["name"],
        slug=org["slug"],
        email=org["email"],
        owner_user_id=owner.user_id,
    )
    dispatch(repeat.source, repeat.event_type, repeat.to_payload())

    wait_until(lambda: marker in suite.log_text("billing"), 15, "billing to handle the repeat")
    assert suite.sql(
        "SELECT count(*) FROM billing.billing_accounts WHERE organization_id = :id", id=org["id"]
    ) == [(1,)]
    assert suite.sql(
        "SELECT count(*) FROM billing.audit_logs WHERE action = 'billing_account.opened' "
        "AND metadata->>'organization_id' = :id",
        id=org["id"],
    ) == [(1,)]


@pytest.mark.parametrize(
    ("body", "headers", "status", "field"),
    [
        ('{"name": "Acme", "email": ', {"Content-Type": "application/json"}, 400, "_body"),
        (
            '{"name": "Acme", "email": "a@b.co", "colour": "red"}',
            {"Content-Type": "application/json"},
            422,
            "colour",
        ),
        ('{"name": 5, "email": "a@b.co"}', {"Content-Type": "application/json"}, 422, "name"),
        ('{"name": "Acme"}', {"Content-Type": "application/json"}, 422, "email"),
        (
            '{"name": "Acme", "email": "not-an-email"}',
            {"Content-Type": "application/json"},
            422,
            "email",
        ),
        (
            '{"name": "Acme", "email": "a@b.co", "slug": "Bad Slug!"}',
            {"Content-Type": "application/json"},
            422,
            "slug",
        ),
        ('["Acme"]', {"Content-Type": "application/json"}, 422, "_schema"),
        ("name=Acme", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "Content-Type"),
    ],
    ids=[
        "malformed",
        "unknown-field",
        "wrong-type",
        "missing",
        "bad-email",
        "bad-slug",
        "array",
        "form",
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    suite: Suite, owner: Person, body: str, headers: dict, status: int, field: str
) -> None:
    before = count_organizations(suite)
    response = suite.http("POST", "/v1/organizations", data=body, headers={**headers, **owner.auth})
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert field in error["fields"]
    assert error["request_id"] == response.headers["X-Request-Id"]
    assert count_organizations(suite) == before


def test_taken_slug_is_a_conflict(suite: Suite, owner: Person) -> None:
    slug = f"taken-{uuid.uuid4().hex[:6]}"
    suite.new_org(owner, slug=slug)
    response = suite.http(
        "POST",
        "/v1/organizations",
        json={"name": "Other", "email": "o@x.co", "slug": slug},
        headers=owner.auth,
    )
    assert response.status_code == 409
    assert response.json()["error"]["fields"] == {"slug": ["already taken"]}


def test_unknown_organization_is_404_json(suite: Suite, owner: Person) -> None:
    response = suite.http("GET", "/v1/organizations/cdoesnotexist0000000000000", headers=owner.auth)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_routing_errors_are_json_not_html(suite: Suite) -> None:
    missing = suite.http("GET", "/v1/no-such-thing")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    wrong_method = suite.http("DELETE", "/v1/health")
    assert (wrong_method.status_code, wrong_method.json()["error"]["code"]) == (
        405,
        "method_not_allowed",
    )


def test_body_over_the_limit_is_413(suite: Suite, owner: Person) -> None:
    before = count_organizations(suite)
    huge = '{"name": "' + "x" * MAX_BODY_BYTES + '", "email": "a@b.co"}'
    response = suite.http(
        "POST",
        "/v1/organizations",
        data=huge,
        headers={"Content-Type": "application/json", **owner.auth},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert count_organizations(suite) == before


def test_request_id_travels_through_rpc_and_events_into_logs_and_audit(
    suite: Suite, owner: Person
) -> None:
    request_id = f"trace-{uuid.uuid4().hex}"
    response = suite.http(
        "POST",
        "/v1/organizations",
        json={"name": "Traced", "email": "t@x.co"},
        headers={"X-Request-Id": request_id, **owner.auth},
    )
    assert response.headers["X-Request-Id"] == request_id
    org_id = response.json()["id"]
    wait_until(lambda: billing_account_of(suite, owner, org_id), 15, "the account")

    assert suite.sql(
        "SELECT actor_type, entity_id FROM identity.audit_logs WHERE request_id = :r "
        "AND actor_id = :u",
        r=request_id,
        u=owner.user_id,
    ) == [("user", org_id)]
    assert suite.sql(
        "SELECT actor_type FROM billing.audit_logs WHERE request_id = :r", r=request_id
    ) == [("system",)]
    assert f"[req={request_id}]" in suite.log_text("gateway")
    billing_lines = [line for line in suite.log_text("billing").splitlines() if request_id in line]
    assert any(org_id in line and "opened" in line for line in billing_lines)

    invalid = suite.http("GET", "/v1/health", headers={"X-Request-Id": "bad id with spaces"})
    assert invalid.headers["X-Request-Id"] != "bad id with spaces"


def test_cors_answers_only_configured_origins(suite: Suite) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = suite.http(
        "OPTIONS", "/v1/organizations", headers={"Origin": ALLOWED_ORIGIN, **preflight}
    )
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]

    other = suite.http(
        "OPTIONS", "/v1/organizations", headers={"Origin": "https://evil.test", **preflight}
    )
    assert "Access-Control-Allow-Origin" not in other.headers
    simple = suite.http("GET", "/v1/health", headers={"Origin": ALLOWED_ORIGIN})
    assert simple.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


def test_openapi_and_docs_page_describe_the_api(suite: Suite) -> None:
    spec = suite.http("GET", "/v1/openapi.json").json()
    assert spec == build_spec(ROUTES)  # the routes' own declarations, served
    assert spec["openapi"].startswith("3.")
    create = spec["paths"]["/v1/organizations"]["post"]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    create_schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(create_schema["required"]) == {"name", "email"}
    assert "201" in create["responses"]
    assert {"/v1/ready", "/v1/organizations/{org_id}"} <= set(spec["paths"])
    docs = suite.http("GET", "/v1/docs")
    assert docs.headers["Content-Type"].startswith("text/html")
    assert "openapi.json" in docs.text


def test_organization_created_while_billing_is_down_gets_its_account_once_back(
    suite: Suite, owner: Person
) -> None:
    suite.supervisor.kill("billing")
    try:
        error = wait_until(
            lambda: (r := suite.http("GET", "/v1/ready")).status_code == 503 and r.json()["error"],
            15,
            "/v1/ready to notice billing is gone",
        )
        assert "billing" in error["message"]
        assert set(error["fields"]) == {"billing"}

        org = suite.new_org(owner)
        assert billing_account_of(suite, owner, org["id"]) is None
    finally:
        suite.supervisor.start("billing")
    account = wait_until(
        lambda: billing_account_of(suite, owner, org["id"]), 60, "billing to catch up after restart"
    )
    assert account["status"] == "ACTIVE"
    suite.supervisor.wait_ready(timeout=60)
    assert suite.sql(
        "SELECT count(*) FROM billing.billing_accounts WHERE organization_id = :id", id=org["id"]
    ) == [(1,)]
