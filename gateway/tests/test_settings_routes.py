"""Staff's settings routes: every service asked at once and answered in the suite's order,
a service that does not answer named in a 503, one service's settings read and changed
through its own RPCs, a word that names no service not routed, and the answers typed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from nameko.exceptions import UnknownService
from werkzeug.exceptions import NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request

from gateway.openapi import build_spec
from gateway.routes import ROUTES
from gateway.routes import settings as routes
from shared import config
from shared.errors import Forbidden, Unavailable

REQUEST = Request.from_values("/")


class Method:
    """An RPC proxy method that answers (or raises) and keeps what it was called with."""

    def __init__(self, answer: Any = None, fails: Exception | None = None) -> None:
        self.answer = answer
        self.fails = fails
        self.calls: list[tuple[Any, ...]] = []

    def call_async(self, *args: Any) -> Any:
        self.calls.append(args)

        def result() -> Any:
            if self.fails is not None:
                raise self.fails
            return self.answer

        return SimpleNamespace(result=result)


def listing(service: str) -> dict[str, Any]:
    return {"service": service, "settings": [{"key": f"{service}.knob"}]}


def gateway(**failing: Exception) -> Any:
    services = {
        name: SimpleNamespace(
            system_settings=Method(listing(name), failing.get(name)),
            change_system_settings=Method(listing(name)),
        )
        for name in config.SERVICES
    }
    return SimpleNamespace(**services)


def test_every_service_is_asked_and_answered_in_the_suite_s_order() -> None:
    suite = gateway()
    answer = routes.all_settings(suite, REQUEST)
    assert answer == {"services": [listing(name) for name in config.SERVICES]}
    assert all(getattr(suite, name).system_settings.calls == [()] for name in config.SERVICES)


def test_a_service_that_does_not_answer_is_named_in_a_503() -> None:
    suite = gateway(
        support=Unavailable("a service did not answer in time"),
        payments=UnknownService("payments"),
    )
    with pytest.raises(Unavailable) as refused:
        routes.all_settings(suite, REQUEST)
    assert refused.value.fields == {
        "payments": ["did not answer"],
        "support": ["did not answer"],
    }
    assert "payments, support" in refused.value.message


def test_a_service_s_refusal_is_the_answer() -> None:
    with pytest.raises(Forbidden):
        routes.all_settings(gateway(billing=Forbidden("CVT staff only")), REQUEST)


def test_one_service_s_settings_are_read_and_changed_through_its_own_rpcs() -> None:
    suite = gateway()
    assert routes.service_settings(suite, REQUEST, service="support") == listing("support")
    body = {"response_target.URGENT": "2h"}
    changed = routes.change_service_settings(suite, REQUEST, service="payments", body=body)
    assert changed == listing("payments")
    assert suite.payments.change_system_settings.calls == [(body,)]
    assert suite.support.change_system_settings.calls == []


def test_only_the_suite_s_services_are_routed() -> None:
    urls = Map([Rule(routes.SERVICE_SETTINGS, endpoint="settings")]).bind("cvt")
    for name in config.SERVICES:
        assert urls.match(f"/v1/admin/settings/{name}") == ("settings", {"service": name})
    for word in ("gateway", "Billing", "billing-settings", "../billing"):
        with pytest.raises(NotFound):
            urls.match(f"/v1/admin/settings/{word}")


def test_the_answers_are_typed_and_the_path_names_the_services() -> None:
    spec = build_spec(ROUTES)
    operation = spec["paths"]["/v1/admin/settings/{service}"]["patch"]
    [service] = [p for p in operation["parameters"] if p["name"] == "service"]
    assert service["schema"]["enum"] == list(config.SERVICES)
    setting = spec["components"]["schemas"]["Setting"]
    assert set(setting["required"]) == set(setting["properties"])
    assert setting["properties"]["value"]["oneOf"] == [
        {"type": "integer"},
        {"type": "boolean"},
        {"type": "string"},
    ]
    assert setting["properties"]["value"]["nullable"] is True
    assert setting["properties"]["updated_at"]["nullable"] is True
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]["additionalProperties"]
