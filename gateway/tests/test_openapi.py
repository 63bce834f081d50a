"""/v1/openapi.json tells the whole truth, so a frontend can generate its client from it:
every query parameter with its type and enum, security as the gateway checks it, the
usage body as one event or a batch, typed answers, and each route's error statuses."""

from __future__ import annotations

from typing import Any

import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_30_VALIDATOR

from gateway.openapi import build_spec
from gateway.routes import ROUTES
from gateway.routing import Route
from shared.pagination import PageSchema
from shared.schemas import PageQuerySchema

SPEC = build_spec(ROUTES)
PEOPLE = [{"session": []}, {"sessionCookie": []}]
API_KEY = [{"apiKey": []}]


def operation(method: str, path: str) -> dict[str, Any]:
    return SPEC["paths"][path][method.lower()]


def query_parameters(method: str, path: str) -> dict[str, dict[str, Any]]:
    parameters = operation(method, path)["parameters"]
    return {p["name"]: p for p in parameters if p["in"] == "query"}


def component(ref: dict[str, str]) -> dict[str, Any]:
    return SPEC["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]


def success_schema(method: str, path: str) -> dict[str, Any]:
    responses = operation(method, path)["responses"]
    [ok] = [r for status, r in responses.items() if status.startswith("2")]
    return component(ok["content"]["application/json"]["schema"])


def test_every_route_is_documented_once_with_its_own_operation_id() -> None:
    documented = [(m.upper(), p) for p, ops in SPEC["paths"].items() for m in ops]
    assert sorted(documented) == sorted((r.method, r.template) for r in ROUTES)
    ids = [op["operationId"] for ops in SPEC["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_usage_report_parameters_have_their_types_and_enum() -> None:
    query = query_parameters("GET", "/v1/organizations/{org_id}/usage")
    assert set(query) == {"from", "to", "group_by"}
    assert query["from"]["required"] and query["to"]["required"]
    formats = {s["format"] for s in query["from"]["schema"]["anyOf"]}
    assert formats == {"date", "date-time"}
    assert query["group_by"]["schema"]["enum"] == ["day", "event_type", "api_key", "invoice"]
    assert query["group_by"]["required"] is False


def test_invoice_and_directory_lists_document_their_filters_and_pages() -> None:
    invoices = query_parameters("GET", "/v1/organizations/{org_id}/invoices")
    assert set(invoices) == {"status", "limit", "offset"}
    assert "OVERDUE" in invoices["status"]["schema"]["enum"]
    assert invoices["limit"]["schema"] | {"default": 50} == {
        "type": "integer",
        "default": 50,
        "minimum": 1,
        "maximum": 200,
    }
    users = query_parameters("GET", "/v1/admin/users")
    assert set(users) == {"q", "limit", "offset"}
    assert users["q"]["schema"]["type"] == "string"


LISTS = [r for r in ROUTES if r.query is not None and issubclass(r.query, PageQuerySchema)]


def test_every_list_that_can_grow_is_paged() -> None:
    assert {r.template for r in LISTS} == {
        "/v1/auth/sessions",
        "/v1/organizations/{org_id}/members",
        "/v1/organizations/{org_id}/invitations",
        "/v1/organizations/{org_id}/api-keys",
        "/v1/organizations/{org_id}/services",
        "/v1/organizations/{org_id}/invoices",
        "/v1/organizations/{org_id}/credits",
        "/v1/organizations/{org_id}/payments",
        "/v1/organizations/{org_id}/tickets",
        "/v1/organizations/{org_id}/tickets/{ticket_id}/messages",
        "/v1/organizations/{org_id}/audit",
        "/v1/organizations/{org_id}/ledger",
        "/v1/admin/organizations/{org_id}/ledger",
        "/v1/admin/audit",
        "/v1/admin/invoices",
        "/v1/admin/services",
        "/v1/admin/emails",
        "/v1/admin/payments",
        "/v1/admin/tickets",
        "/v1/admin/tickets/{ticket_id}/messages",
        "/v1/admin/organizations",
        "/v1/admin/users",
        "/v1/admin/event-types",
        "/v1/admin/billing-runs",
    }


@pytest.mark.parametrize("route", LISTS, ids=lambda r: r.template)
def test_every_list_answers_the_one_page_envelope(route: Route) -> None:
    assert route.response is not None and issubclass(route.response, PageSchema)
    page = success_schema("GET", route.template)
    assert set(page["required"]) == {"items", "total", "limit", "offset"}
    assert page["properties"]["items"]["items"]["$ref"].startswith("#/components/schemas/")
    assert {"limit", "offset"} <= set(query_parameters("GET", route.template))


@pytest.mark.parametrize(
    ("method", "path", "security"),
    [
        ("GET", "/v1/health", []),
        ("POST", "/v1/auth/sign-in", []),
        ("GET", "/v1/me", PEOPLE),
        ("GET", "/v1/admin/users", PEOPLE),
        ("GET", "/v1/organizations/{org_id}/members", PEOPLE),
        ("GET", "/v1/organizations/{org_id}/usage", [*PEOPLE, *API_KEY]),
        ("POST", "/v1/usage-events", API_KEY),
        ("GET", "/v1/terminal/whoami", API_KEY),
    ],
)
def test_security_is_per_route_as_the_gateway_checks_it(
    method: str, path: str, security: list[dict[str, list[str]]]
) -> None:
    assert operation(method, path)["security"] == security


def test_an_api_key_is_documented_only_where_a_terminal_scope_is_accepted() -> None:
    with_key = {
        (m.upper(), p)
        for p, ops in SPEC["paths"].items()
        for m, op in ops.items()
        if {"apiKey": []} in op["security"]
    }
    assert with_key == {
        ("GET", "/v1/organizations/{org_id}/usage"),
        ("POST", "/v1/usage-events"),
        ("GET", "/v1/terminal/whoami"),
    }


def test_the_usage_body_is_one_event_or_a_batch_of_them() -> None:
    body = operation("POST", "/v1/usage-events")["requestBody"]["content"]["application/json"]
    one, batch = (component(ref) for ref in body["schema"]["oneOf"])
    assert {"event_type", "idempotency_key"} <= set(one["required"])
    assert batch["required"] == ["events"]
    assert component(batch["properties"]["events"]["items"]) == one
    assert batch["properties"]["events"]["maxItems"] == 1000


def test_a_billing_run_is_a_job_and_an_overdue_run_typed_rows() -> None:
    responses = operation("POST", "/v1/admin/billing-runs")["responses"]
    assert [status for status in responses if status.startswith("2")] == ["202"]
    job = success_schema("POST", "/v1/admin/billing-runs")
    assert job["properties"]["status"]["enum"] == ["QUEUED", "RUNNING", "COMPLETED", "FAILED"]
    assert {"id", "total", "done", "failed"} <= set(job["required"])
    progress = success_schema("GET", "/v1/admin/billing-runs/{run_id}")
    failure = component(progress["properties"]["failures"]["items"])
    assert set(failure["properties"]) == {"billing_account_id", "organization_id", "error"}
    overdue = success_schema("POST", "/v1/admin/overdue-runs")
    row = component(overdue["properties"]["rows"]["items"])
    assert set(row["properties"]) == {"organization_id", "status"}


# Any route with a body: malformed, too large, not JSON, invalid.
BODY = {400, 413, 415, 422}


def errors_of(method: str, path: str) -> set[int]:
    """The refusals (4xx, 503) an operation documents, each in the one error shape."""
    responses = operation(method, path)["responses"]
    errors = {int(status) for status in responses if status[0] in "45"}
    for status in errors:
        assert responses[str(status)]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    return errors - {500}


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("GET", "/v1/health", {422}),
        ("GET", "/v1/ready", {422, 503}),
        ("POST", "/v1/auth/sign-in", {400, 401, 403, 413, 415, 422, 429, 503}),
        ("GET", "/v1/me", {401, 403, 404, 422, 503}),
        ("DELETE", "/v1/organizations/{org_id}", {401, 403, 404, 409, 422, 503}),
        ("GET", "/v1/organizations/{org_id}/usage", {401, 402, 403, 404, 422, 429, 503}),
        ("POST", "/v1/usage-events", {400, 401, 402, 403, 409, 413, 415, 422, 429, 503}),
        ("POST", "/v1/admin/organizations/{org_id}/payments", BODY | {401, 403, 404, 409, 503}),
    ],
)  # fmt: skip
def test_each_route_lists_the_statuses_it_can_refuse_with(
    method: str, path: str, statuses: set[int]
) -> None:
    assert errors_of(method, path) == statuses


def test_every_delete_answers_204_without_a_body() -> None:
    deletes = [op for ops in SPEC["paths"].values() for m, op in ops.items() if m == "delete"]
    assert len(deletes) == 4
    for op in deletes:
        [success] = [status for status in op["responses"] if status.startswith("2")]
        assert success == "204"
        assert "content" not in op["responses"]["204"]


def test_pages_are_documented_as_html() -> None:
    page = operation("GET", "/v1/organizations/{org_id}/invoices/{invoice_id}/html")
    assert list(page["responses"]["200"]["content"]) == ["text/html"]


def test_the_error_shape_documents_its_fields() -> None:
    body = component(SPEC["components"]["schemas"]["Error"]["properties"]["error"])
    assert set(body["required"]) == {"code", "message", "request_id"}
    assert "events.<index>.<field>" in body["properties"]["fields"]["description"]


def test_writes_by_signed_in_callers_document_the_idempotency_key() -> None:
    headers = {
        p["name"]
        for p in operation("POST", "/v1/admin/organizations/{org_id}/credits")["parameters"]
        if p["in"] == "header"
    }
    assert headers == {"Idempotency-Key"}
    assert not operation("POST", "/v1/auth/sign-up")["parameters"]


def test_the_document_is_valid_openapi_3_0() -> None:
    """Against the OpenAPI 3.0 meta-schema (the one Schemathesis itself checks with)."""
    errors = [
        f"{error.instance_path}: {error.message}"
        for error in OPENAPI_30_VALIDATOR.iter_errors(SPEC)
    ]
    assert SPEC["openapi"] == "3.0.3"
    assert errors == []


def test_every_operation_documents_its_500_and_no_catch_all() -> None:
    """Without a `default` answer, any status an operation does not list is a finding
    (Schemathesis' status_code_conformance), and a client types the 500 as an Error."""
    for path, ops in SPEC["paths"].items():
        for method, op in ops.items():
            assert "default" not in op["responses"], (method, path)
            assert "500" in op["responses"], (method, path)


def schemas_under(schema: dict[str, Any]) -> set[str]:
    """The names of the components a schema refers to, however deep."""
    found: set[str] = set()
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            ref = node.get("$ref")
            if ref:
                name = ref.rsplit("/", 1)[1]
                if name not in found:
                    found.add(name)
                    pending.append(SPEC["components"]["schemas"][name])
            pending.extend(value for key, value in node.items() if key != "$ref")
    return found


def answer_schemas() -> set[str]:
    return {
        name
        for ops in SPEC["paths"].values()
        for op in ops.values()
        for response in op["responses"].values()
        for media in response.get("content", {}).values()
        for name in schemas_under(media["schema"])
    }


# Sent only in some answers, by design: each says when in its description.
OPTIONAL_ANSWER_FIELDS = {
    ("ErrorBody", "fields"),
    ("EventResult", "errors"),
    ("UsageRow", "day"),
    ("UsageRow", "event_type"),
    ("UsageRow", "api_key_id"),
    ("UsageRow", "invoice_id"),
}


def test_every_answer_field_is_required_unless_sent_only_sometimes() -> None:
    """A generated client types a required field as always there: the services send every
    field of their answers (null where nullable), and Schemathesis checks they do."""
    optional = set()
    for name in answer_schemas():
        schema = SPEC["components"]["schemas"][name]
        optional |= {
            (name, field) for field in set(schema["properties"]) - set(schema.get("required", []))
        }
    assert optional == OPTIONAL_ANSWER_FIELDS
    for name, field in OPTIONAL_ANSWER_FIELDS:
        assert SPEC["components"]["schemas"][name]["properties"][field]["description"]


def test_a_nullable_nested_answer_is_that_schema_or_null() -> None:
    """Not apispec's `anyOf` with any object, which would check and type nothing."""
    organization = success_schema("GET", "/v1/organizations/{org_id}")
    assert organization["properties"]["billing_account"] | {"description": ""} == {
        "allOf": [{"$ref": "#/components/schemas/BillingAccount"}],
        "nullable": True,
        "description": "",
    }
    assert "billing_account" in organization["required"]


def test_answers_and_requests_of_one_thing_are_separate_shapes_where_they_differ() -> None:
    """Fields a request may leave out (defaults) are always in the answer."""
    settings = success_schema("GET", "/v1/admin/billing-settings")
    assert set(settings["required"]) == set(settings["properties"])
    body = operation("PATCH", "/v1/admin/billing-settings")["requestBody"]
    assert "required" not in component(body["content"]["application/json"]["schema"])
    event_type = success_schema("POST", "/v1/admin/event-types")
    assert set(event_type["required"]) == {"name", "description", "is_active"}


def test_a_path_word_documents_the_words_routed() -> None:
    parameters = operation("POST", "/v1/admin/services/{service_id}/{action}")["parameters"]
    [action] = [p for p in parameters if p["name"] == "action"]
    assert action["schema"]["enum"] == ["suspend", "reactivate", "cancel"]


def test_paynow_s_status_post_is_documented_as_the_form_it_is() -> None:
    webhook = operation("POST", "/webhooks/paynow")
    assert webhook["security"] == []
    [(media, body)] = webhook["requestBody"]["content"].items()
    assert media == "application/x-www-form-urlencoded"
    form = component(body["schema"])
    assert set(form["properties"]) == {
        "reference",
        "paynowreference",
        "amount",
        "status",
        "pollurl",
        "hash",
    }
    # Payments judges (and audits) a post without a good hash: nothing is refused before.
    assert "required" not in form
    assert list(webhook["responses"]["200"]["content"]) == ["text/plain"]
    assert errors_of("POST", "/webhooks/paynow") == BODY | {503}


def test_starting_a_checkout_answers_201_started_or_200_the_live_attempt() -> None:
    for path in (
        "/v1/pay/{token}/payments",
        "/v1/organizations/{org_id}/invoices/{invoice_id}/payments",
    ):
        responses = operation("POST", path)["responses"]
        assert responses["201"] == responses["200"]
        assert responses["201"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/CheckoutPayment"
        }
    assert errors_of("POST", "/v1/pay/{token}/payments") == BODY | {404, 409, 410, 503}


def test_the_pay_page_answers_an_unknown_link_as_a_page() -> None:
    page = operation("GET", "/pay/{token}")
    assert page["security"] == []
    assert list(page["responses"]["200"]["content"]) == ["text/html"]
    assert set(page["responses"]["404"]["content"]) == {"application/json", "text/html"}
    assert set(page["responses"]["503"]["content"]) == {"application/json", "text/html"}
    assert list(page["responses"]["422"]["content"]) == ["application/json"]
