"""/v1/ready: the broker and every service answer in time, or a 503 naming who did not."""

from __future__ import annotations

import eventlet
import pytest
from nameko.exceptions import RemoteError

from gateway import readiness
from shared.errors import Unavailable


class FakeHealth:
    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour

    def call_async(self) -> FakeHealth:
        return self

    def result(self) -> dict:
        if self.behaviour == "hang":
            eventlet.sleep(10)
        if self.behaviour == "fail":
            raise RuntimeError("db down")
        if self.behaviour == "no database":
            # How a service's health RPC fails while its PostgreSQL is down.
            raise RemoteError("OperationalError", "connection refused")
        return {"status": "ok"}


def test_ready_when_every_service_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readiness, "broker_reachable", lambda uri, timeout: True)
    monkeypatch.setattr(
        readiness.dead_letters, "count", lambda uri, services: dict.fromkeys(services, 0)
    )
    result = readiness.check_ready("amqp://x", {"a": FakeHealth("ok"), "b": FakeHealth("ok")}, 0.2)
    assert result == {
        "status": "ready",
        "services": {"a": "ok", "b": "ok"},
        "dead_letters": {"a": 0, "b": 0},
    }


def test_not_ready_names_the_services_that_did_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readiness, "broker_reachable", lambda uri, timeout: True)
    methods = {"ok": FakeHealth("ok"), "slow": FakeHealth("hang"), "broken": FakeHealth("fail")}
    with pytest.raises(Unavailable) as caught:
        readiness.check_ready("amqp://x", methods, 0.2)
    assert caught.value.message == "not ready: broken, slow"
    assert caught.value.fields == {
        "slow": ["no answer within 0.2 s"],
        "broken": ["failed: RuntimeError"],
    }


def test_not_ready_without_a_broker() -> None:
    with pytest.raises(Unavailable) as caught:
        readiness.check_ready("amqp://guest:guest@127.0.0.1:1/", {"a": FakeHealth("ok")}, 0.5)
    assert caught.value.fields == {"broker": ["down"]}


def test_not_ready_says_which_services_lost_their_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(readiness, "broker_reachable", lambda uri, timeout: True)
    methods = {"ok": FakeHealth("ok"), "billing": FakeHealth("no database")}
    with pytest.raises(Unavailable) as caught:
        readiness.check_ready("amqp://x", methods, 0.2)
    assert caught.value.fields == {"billing": ["database unavailable (OperationalError)"]}
