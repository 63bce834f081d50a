"""The gateway's input gate and hardening headers, without a broker: impossible path
values, bad query strings and bodies are refused in the one error shape naming the field;
usage batches are gated event by event; every answer carries the hardening headers."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from types import SimpleNamespace
from typing import Any

import pytest
from marshmallow import fields
from nameko.exceptions import deserialize, serialize
from werkzeug.routing import Map, Rule
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from gateway.http import ApiWsgiApp, call_context_of, json_response, response_for_exception
from gateway.pages import DOCS_PAGE, content_security_policy
from gateway.request_input import read_json
from gateway.usage import accept_usage
from services.metering.schemas import UsageBatchSchema
from shared import errors, input_gate
from shared.ids import cuid
from shared.schemas import StrictSchema


class Echo:
    """Answers with what it was given: the path values and the query string."""

    def handle_request(self, request: Request) -> Response:
        return json_response(200, {"path": request.path_values, "query": dict(request.args)})


class Page:
    def handle_request(self, request: Request) -> Response:
        return Response("<p>hello</p>", mimetype="text/html")


@pytest.fixture
def client() -> Client:
    url_map = Map(
        [
            Rule("/v1/things", methods=["GET"], endpoint=Echo()),
            Rule("/v1/things/<thing_id>", methods=["GET", "DELETE"], endpoint=Echo()),
            Rule("/v1/types/<name>", methods=["GET"], endpoint=Echo()),
            Rule("/v1/page", methods=["GET"], endpoint=Page()),
        ]
    )
    return Client(ApiWsgiApp(SimpleNamespace(make_url_map=lambda: url_map)))


def error_of(response: Any) -> dict:
    assert response.headers["Content-Type"] == "application/json"
    return json.loads(response.get_data())["error"]


def test_every_answer_carries_nosniff_and_no_store(client: Client) -> None:
    for response in (
        client.get("/v1/things"),
        client.get("/v1/nothing"),
        client.post("/v1/things"),
        client.get("/v1/page"),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


def test_a_405_says_which_methods_the_path_takes(client: Client) -> None:
    response = client.post(f"/v1/things/{cuid()}")
    assert (response.status_code, error_of(response)["code"]) == (405, "method_not_allowed")
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= {"GET", "DELETE"}


def test_html_pages_get_a_strict_content_security_policy(client: Client) -> None:
    policy = client.get("/v1/page").headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "Content-Security-Policy" not in client.get("/v1/things").headers


def test_the_policy_lets_the_docs_page_run_its_own_script_and_style_only() -> None:
    policy = content_security_policy([DOCS_PAGE])
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    [script] = re.findall(r"<script>(.*?)</script>", DOCS_PAGE, re.DOTALL)
    [style] = re.findall(r"<style>(.*?)</style>", DOCS_PAGE, re.DOTALL)

    def source(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert directives["script-src"] == source(script)
    assert directives["style-src"] == source(style)
    assert directives["connect-src"] == "'self'"  # the page fetches openapi.json


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/things/%00", "thing_id"),
        ("/v1/things/abc%00def", "thing_id"),
        ("/v1/things/" + "c" * 33, "thing_id"),
        ("/v1/things/%ED%A0%80", "thing_id"),
        ("/v1/types/pos.%00", "name"),
    ],
)
def test_path_values_that_can_name_nothing_are_404_naming_the_parameter(
    client: Client, path: str, field: str
) -> None:
    response = client.get(path)
    error = error_of(response)
    assert (response.status_code, error["code"]) == (404, "not_found")
    assert list(error["fields"]) == [field]


def test_a_possible_id_goes_through(client: Client) -> None:
    thing_id = cuid()
    assert client.get(f"/v1/things/{thing_id}").json["path"] == {"thing_id": thing_id}


@pytest.mark.parametrize(
    ("query", "field"),
    [("q=%00", "q"), ("q=a%00b&limit=5", "q"), ("x%00=1", "x\\u0000")],
)
def test_query_strings_with_bad_text_are_422_naming_the_parameter(
    client: Client, query: str, field: str
) -> None:
    response = client.get(f"/v1/things?{query}")
    error = error_of(response)
    assert (response.status_code, error["code"]) == (422, "validation_failed")
    assert list(error["fields"]) == [field]


def test_a_decent_query_string_goes_through(client: Client) -> None:
    assert client.get("/v1/things?q=Tendai+M%C3%BCller&limit=5").json["query"] == {
        "q": "Tendai Müller",
        "limit": "5",
    }


def test_a_user_agent_is_stored_without_control_characters() -> None:
    request = Request.from_values(headers={"User-Agent": "till\x00 v1\x07"})
    request.environ["cvt.request_id"] = "r"
    assert call_context_of(request).user_agent == "till v1"


def crossed_rpc(exc: errors.DomainError) -> errors.DomainError:
    """As the gateway receives a service's error: serialized by nameko and back."""
    return deserialize(json.loads(json.dumps(serialize(exc))))


def test_an_error_from_a_service_without_retry_after_has_no_retry_after_header() -> None:
    response = response_for_exception(crossed_rpc(errors.Unauthorized("sign in")), "r")
    assert response.status_code == 401
    assert "Retry-After" not in response.headers


def test_retry_after_survives_the_rpc_crossing() -> None:
    refused = crossed_rpc(errors.RateLimited("slow down", retry_after=30))
    assert response_for_exception(refused, "r").headers["Retry-After"] == "30"


class NameSchema(StrictSchema):
    name = fields.String(required=True)


def post(body: bytes) -> Request:
    return Request.from_values(method="POST", data=body, content_type="application/json")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"name": "\\ud800"}', "name"),
        (b'{"name": "a\\u0000"}', "name"),
        (b'{"name": ' + b"[" * 1000 + b"]" * 1000 + b"}", "name" + ".0" * 31),
        (b'{"name": "x", "n": 100000000000000000000}', "n"),
    ],
)
def test_read_json_passes_bodies_through_the_gate(raw: bytes, field: str) -> None:
    with pytest.raises(errors.ValidationFailed) as caught:
        read_json(post(raw), NameSchema())
    assert list(caught.value.fields) == [field]


class FakeRecorder:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, message: dict[str, Any]) -> None:
        self.published.append(message)


def usage_event(key: str, **extra: Any) -> dict[str, Any]:
    return {"event_type": "pos.transaction", "quantity": 1, "idempotency_key": key, **extra}


def test_a_usage_batch_is_gated_event_by_event() -> None:
    raw = json.dumps(
        {
            "events": [
                usage_event("good-1", event_data={"note": "fine"}),
                usage_event("bad-\u0000"),
                usage_event("bad-data", event_data={"note": "x\ud800"}),
                usage_event("bad-number", event_data={"amount": 10**20}),
                usage_event("bad-key", event_data={"a\u0000": 1}),
                usage_event("good-2"),
            ]
        }
    ).encode()
    body = read_json(post(raw), UsageBatchSchema())  # the batch itself passes
    recorder = FakeRecorder()
    answer = accept_usage(recorder, body, frozenset({"pos.transaction"}))  # type: ignore[arg-type]
    assert (answer["accepted"], answer["rejected"]) == (2, 4)
    rejected = {r["index"]: r for r in answer["results"] if r["status"] == "rejected"}
    assert rejected[1]["errors"] == {"idempotency_key": [input_gate.HAS_NUL]}
    assert rejected[1]["idempotency_key"] is None  # not echoed back
    assert rejected[2]["errors"] == {"event_data.note": [input_gate.HAS_SURROGATE]}
    assert rejected[3]["errors"] == {"event_data.amount": [input_gate.OUT_OF_RANGE]}
    assert list(rejected[4]["errors"]) == ["event_data.a\\u0000"]
    [message] = recorder.published
    assert [e["idempotency_key"] for e in message["events"]] == ["good-1", "good-2"]
    assert input_gate.value_errors(message) == {}


def test_a_usage_batch_of_only_bad_events_is_refused_naming_each_event_s_fields() -> None:
    recorder = FakeRecorder()
    body = {"events": [usage_event("\ud800"), usage_event("ok", quantity=0), 7]}
    with pytest.raises(errors.ValidationFailed) as caught:
        accept_usage(recorder, body, frozenset({"pos.transaction"}))  # type: ignore[arg-type]
    assert caught.value.fields == {
        "events.0.idempotency_key": [input_gate.HAS_SURROGATE],
        "events.1.quantity": [
            "Must be greater than or equal to 1 and less than or equal to 1000000."
        ],
        "events.2": ["Invalid input type."],
    }
    assert recorder.published == []
