"""Signed contexts behind nameko's real container, on the real broker: a call whose
context the suite did not sign is refused and audited before the method runs; events keep
a request id only if it was signed."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from nameko.containers import ServiceContainer
from nameko.events import event_handler
from nameko.rpc import rpc
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, pool, text

from services.support.models import tables as support_tables
from shared import config, context
from shared.authorization import require_staff
from shared.context import SYSTEM, USER, CallContext, SigningKeyMissing
from shared.dependencies import CallContextProvider, Database
from shared.errors import Unauthorized
from shared.waiting import wait_until
from tests.harness import RunEnvironment

SOURCE = "contextsource"


class Guarded:
    name = "contextguarded"
    # Any service's schema will do: the refusals land in its audit table.
    db = Database("support", support_tables)
    call_context = CallContextProvider()
    ran: list[str] = []
    seen: dict[str, CallContext] = {}

    @rpc
    def staff_only(self) -> str | None:
        Guarded.ran.append("staff_only")
        return require_staff().actor_id

    @event_handler(SOURCE, "thing.happened")
    def on_thing(self, payload: dict[str, Any]) -> None:
        Guarded.seen[payload["name"]] = context.current()


@pytest.fixture
def guarded(
    test_environment: RunEnvironment, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServiceContainer]:
    monkeypatch.setenv(config.MIGRATE_ON_START.name, "false")
    Guarded.ran, Guarded.seen = [], {}
    container = ServiceContainer(Guarded, {"AMQP_URI": test_environment.amqp_uri})
    container.start()
    yield container
    container.stop()


def call_staff_only(amqp_uri: str, data: dict[str, Any]) -> Any:
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, context_data=data, timeout=10) as cluster:
        return cluster.contextguarded.staff_only()


def refusals(database_url: str, request_marker: str) -> list[tuple]:
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    text(
                        "SELECT actor_type, actor_id, metadata FROM support.audit_logs "
                        "WHERE action = 'call_context.refused' "
                        "AND entity_id = 'contextguarded.staff_only' "
                        "AND metadata->'claims'->>'request_id' = :marker"
                    ),
                    {"marker": request_marker},
                )
            )
    finally:
        engine.dispose()


STAFF = CallContext(request_id="req-staff", actor_id="staff-1", actor_type=USER, is_staff=True)


def test_a_signed_staff_context_is_believed(
    guarded: ServiceContainer, test_environment: RunEnvironment
) -> None:
    assert call_staff_only(test_environment.amqp_uri, STAFF.to_context_data()) == "staff-1"


def test_a_forged_is_staff_is_refused_audited_and_logged(
    guarded: ServiceContainer,
    test_environment: RunEnvironment,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.dependencies")
    person = CallContext(request_id="req-forged", actor_id="mallory", actor_type=USER)
    forged = {**person.to_context_data(), "is_staff": True}

    with pytest.raises(Unauthorized, match="wrong signature"):
        call_staff_only(test_environment.amqp_uri, forged)

    assert Guarded.ran == []
    [(actor_type, actor_id, metadata)] = refusals(test_environment.database_url, "req-forged")
    assert (actor_type, actor_id) == (context.ANONYMOUS, None)
    assert metadata["reason"] == "wrong signature on the call context"
    assert metadata["claims"]["is_staff"] is True
    assert metadata["claims"]["actor_id"] == "mallory"
    assert any(
        r.levelno == logging.WARNING
        and "refused contextguarded.staff_only: wrong signature" in r.getMessage()
        for r in caplog.records
    )


def test_an_unsigned_context_is_refused_and_audited(
    guarded: ServiceContainer, test_environment: RunEnvironment
) -> None:
    unsigned = {"request_id": "req-unsigned", "actor_type": USER, "is_staff": True}
    with pytest.raises(Unauthorized, match="unsigned"):
        call_staff_only(test_environment.amqp_uri, unsigned)
    assert Guarded.ran == []
    [(_, _, metadata)] = refusals(test_environment.database_url, "req-unsigned")
    assert metadata["reason"] == "unsigned call context"


def test_events_run_as_system_keeping_only_a_signed_request_id(
    guarded: ServiceContainer,
    test_environment: RunEnvironment,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.dependencies")
    signed = STAFF.to_headers()
    forged = {**STAFF.to_headers(), "nameko.request_id": "req-other"}
    unsigned = {"nameko.request_id": "req-unsigned", "nameko.is_staff": True}
    for name, headers in (("signed", signed), ("forged", forged), ("unsigned", unsigned)):
        dispatch = event_dispatcher({"AMQP_URI": test_environment.amqp_uri}, headers=headers)
        dispatch(SOURCE, "thing.happened", {"name": name})
    wait_until(lambda: len(Guarded.seen) == 3, 10, "the three events")

    assert Guarded.seen["signed"] == CallContext(request_id="req-staff", actor_type=SYSTEM)
    assert Guarded.seen["forged"] == CallContext(actor_type=SYSTEM)
    assert Guarded.seen["unsigned"] == CallContext(actor_type=SYSTEM)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert (
        "contextguarded.on_thing: ignoring the message's call context: wrong signature"
        in (warnings[0])
    )


class Keyless:
    name = "contextkeyless"
    call_context = CallContextProvider()

    @rpc
    def anything(self) -> None:
        pass


def test_a_service_without_a_key_does_not_start(
    test_environment: RunEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(config.CONTEXT_SIGNING_KEY.name, "")
    container = ServiceContainer(Keyless, {"AMQP_URI": test_environment.amqp_uri})
    with pytest.raises(SigningKeyMissing, match="CONTEXT_SIGNING_KEY is not set"):
        container.start()
