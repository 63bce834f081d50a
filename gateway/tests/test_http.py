"""The gateway's HTTP plumbing, without a broker: errors, request ids, CORS, body limit."""

from __future__ import annotations

import json
from types import SimpleNamespace

import eventlet
import pytest
from nameko.exceptions import RemoteError, UnknownService
from werkzeug.routing import Map, Rule
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from gateway.http import ApiWsgiApp, json_response, request_id_of, response_for_exception
from gateway.request_input import FORM, read_form, read_json
from gateway.schemas import PaynowStatusPostSchema
from services.identity.schemas import OrganizationCreateSchema
from shared import errors

ORIGIN = "https://app.cvt.test"


class EchoProvider:
    def handle_request(self, request: Request) -> Response:
        return json_response(200, {"request_id": request_id_of(request)})


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Client:
    monkeypatch.setenv("CORS_ORIGINS", ORIGIN)
    monkeypatch.setenv("MAX_BODY_BYTES", "100")
    url_map = Map([Rule("/v1/echo", methods=["GET", "POST"], endpoint=EchoProvider())])
    return Client(ApiWsgiApp(SimpleNamespace(make_url_map=lambda: url_map)))


def error_of(response) -> dict:
    assert response.headers["Content-Type"] == "application/json"
    return json.loads(response.get_data())["error"]


def test_request_id_is_kept_when_sane_and_made_otherwise(client: Client) -> None:
    kept = client.get("/v1/echo", headers={"X-Request-Id": "abc-123"})
    assert kept.headers["X-Request-Id"] == "abc-123"
    assert kept.json == {"request_id": "abc-123"}
    made = client.get("/v1/echo", headers={"X-Request-Id": "x" * 500})
    assert made.headers["X-Request-Id"] != "x" * 500
    assert made.json["request_id"] == made.headers["X-Request-Id"]


def test_routing_errors_are_json(client: Client) -> None:
    missing = client.get("/v1/nothing")
    assert (missing.status_code, error_of(missing)["code"]) == (404, "not_found")
    assert error_of(missing)["request_id"] == missing.headers["X-Request-Id"]
    wrong = client.delete("/v1/echo")
    assert (wrong.status_code, error_of(wrong)["code"]) == (405, "method_not_allowed")


def test_bodies_over_the_limit_are_refused_before_any_handler(client: Client) -> None:
    response = client.post("/v1/echo", data="x" * 101, content_type="application/json")
    assert (response.status_code, error_of(response)["code"]) == (413, "payload_too_large")


def test_cors_only_for_configured_origins(client: Client) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = client.options("/v1/echo", headers={"Origin": ORIGIN, **preflight})
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "X-API-Key" in allowed.headers["Access-Control-Allow-Headers"]
    denied = client.options("/v1/echo", headers={"Origin": "https://evil.test", **preflight})
    assert "Access-Control-Allow-Origin" not in denied.headers
    assert client.get("/v1/echo").headers.get("Access-Control-Allow-Origin") is None


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (errors.NotFound("gone", {"id": ["not found"]}), 404, "not_found"),
        (errors.ValidationFailed("bad", {"name": ["required"]}), 422, "validation_failed"),
        (errors.RateLimited("slow down"), 429, "rate_limited"),
        (UnknownService("billing"), 503, "unavailable"),
        (RemoteError("KeyError", "secret internals"), 500, "internal"),
        (ZeroDivisionError("oops"), 500, "internal"),
    ],
)
def test_exceptions_map_to_one_error_shape(exc: Exception, status: int, code: str) -> None:
    response = response_for_exception(exc, "req-1")
    body = json.loads(response.get_data())
    assert response.status_code == status
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == "req-1"
    assert "secret" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "exc",
    [
        errors.Unavailable("down"),
        UnknownService("billing"),
        eventlet.Timeout(),
    ],
)
def test_unavailable_says_when_to_retry(exc: BaseException) -> None:
    response = response_for_exception(exc, "r")
    assert (response.status_code, response.headers["Retry-After"]) == (503, "5")


def make_request(body: bytes, content_type: str = "application/json") -> Request:
    return Request.from_values(method="POST", data=body, content_type=content_type)


def test_read_json_returns_the_body_as_sent() -> None:
    body = {"name": "Acme", "email": "a@b.co"}
    assert read_json(make_request(json.dumps(body).encode()), OrganizationCreateSchema()) == body


@pytest.mark.parametrize(
    ("raw", "content_type", "error", "field"),
    [
        (b"{", "application/json", errors.BadRequest, "_body"),
        (b"\xff\xfe", "application/json", errors.BadRequest, "_body"),
        (b"name=x", "text/plain", errors.UnsupportedMediaType, "Content-Type"),
        (b'{"name": "x"}', "application/json", errors.ValidationFailed, "email"),
    ],
)
def test_read_json_refusals_name_the_problem(
    raw: bytes, content_type: str, error: type[errors.DomainError], field: str
) -> None:
    with pytest.raises(error) as caught:
        read_json(make_request(raw, content_type), OrganizationCreateSchema())
    assert field in caught.value.fields


STATUS_POST = (
    "reference=pay1&paynowreference=9&amount=12.34&status=Paid&pollurl=http%3a%2f%2fp&hash=AB"
)


def form_request(body: bytes, content_type: str = FORM) -> Request:
    return Request.from_values(method="POST", data=body, content_type=content_type)


def test_read_form_returns_the_body_as_sent_for_its_sender_s_signature() -> None:
    # Unknown fields are the sender's to add: they are signed too, so they are kept. A post
    # missing its hash goes on too: payments refuses it, and audits that.
    for sent in (STATUS_POST + "&extra=1", "reference=pay1&status=Paid", ""):
        assert read_form(form_request(sent.encode()), PaynowStatusPostSchema()) == sent


@pytest.mark.parametrize(
    ("raw", "content_type", "error", "field"),
    [
        (b"reference=\xff&status=Paid&hash=A", FORM, errors.BadRequest, "_body"),
        (STATUS_POST.encode(), "application/json", errors.UnsupportedMediaType, "Content-Type"),
        (b"reference=a%00b&status=Paid&hash=A", FORM, errors.ValidationFailed, "reference"),
        (b"reference=pay1&status=Paid&hash=A\x00", FORM, errors.ValidationFailed, "hash"),
    ],
)
def test_read_form_refusals_name_the_problem(
    raw: bytes, content_type: str, error: type[errors.DomainError], field: str
) -> None:
    with pytest.raises(error) as caught:
        read_form(form_request(raw, content_type), PaynowStatusPostSchema())
    assert field in caught.value.fields
