"""RabbitMQ and PostgreSQL stopped and started again under load, the suite left alone.

The suite runs on a PostgreSQL cluster and a RabbitMQ node of this module's own
(`tests.reliability.servers`), so the outage reaches no other test run. A terminal ingests
usage throughout; during each outage the test asks the gateway for readiness, a person's
own data and a usage batch, and times every answer.

Checked: every answer during the outage comes within OUTAGE_ANSWER_SECONDS and is a 503
with Retry-After (or a 202 for usage while only the database is down: the events wait in
RabbitMQ); /v1/ready names what is down; afterwards every process reconnects by itself
(same pids), nothing is parked, and every event accepted before, during and after is
stored exactly once.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from ops import database
from shared import config
from tests.harness import exported, run_environment_on
from tests.integration.conftest import STAFF_EMAIL, Person, Suite, running_suite
from tests.integration.test_metering import new_key
from tests.reliability.load import Tally, Terminal, wait_until_quiet
from tests.reliability.servers import (
    PrivatePostgres,
    PrivateRabbit,
    private_postgres,
    private_rabbit,
)

pytestmark = pytest.mark.integration

# The gateway's RPC deadline (shared.rpc) and a margin: no request may hang longer.
OUTAGE_ANSWER_SECONDS = 15.0
# Pauses before a failed message is retried: together longer than an outage here, so a
# message that fails while the database is down is retried, not parked.
RETRY_DELAYS = "1,2,4,8,16"
# How long the suite may take to be ready again after a server is back.
RECOVERY_SECONDS = 120.0
# Batches the terminal gets accepted while the database is down (a few seconds' worth).
OUTAGE_BATCHES = 10


@dataclass
class Servers:
    suite: Suite
    postgres: PrivatePostgres
    rabbit: PrivateRabbit


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    with private_postgres() as postgres, private_rabbit() as rabbit:
        # The harness counts queue messages with rabbitmqctl (this node has no management
        # API), which asks the node RABBITMQ_NODENAME names.
        saved = os.environ.get("RABBITMQ_NODENAME")
        os.environ["RABBITMQ_NODENAME"] = rabbit.node
        try:
            with run_environment_on(
                postgres.server_url, rabbit.amqp_uri, config.REDIS_URL.get()
            ) as environment:
                with exported(environment):
                    database.migrate_all()
                var_dir = Path(tmp_path_factory.mktemp("restarts-suite"))
                settings = {"RETRY_DELAYS_SECONDS": RETRY_DELAYS}
                with running_suite(environment, var_dir, settings) as suite:
                    yield Servers(suite, postgres, rabbit)
        finally:
            if saved is None:
                os.environ.pop("RABBITMQ_NODENAME", None)
            else:
                os.environ["RABBITMQ_NODENAME"] = saved


@dataclass
class Probe:
    """What the gateway answered during an outage, and how fast."""

    answers: list[dict[str, Any]] = field(default_factory=list)

    def ask(self, what: str, send: Callable[[], requests.Response]) -> requests.Response:
        started = time.monotonic()
        response = send()
        seconds = time.monotonic() - started
        self.answers.append(
            {
                "request": what,
                "status": response.status_code,
                "retry_after": response.headers.get("Retry-After"),
                "seconds": round(seconds, 2),
                "error": response.json().get("error", {}) if response.content else {},
            }
        )
        assert seconds < OUTAGE_ANSWER_SECONDS, (what, seconds)
        return response


def probe_outage(suite: Suite, person: Person, terminal: Terminal, usage_status: int) -> Probe:
    """Readiness, a signed-in read and a usage batch, during the outage."""
    probe = Probe()
    ready = probe.ask("GET /v1/ready", lambda: suite.http("GET", "/v1/ready"))
    assert ready.status_code == 503, ready.text
    assert ready.headers.get("Retry-After"), ready.headers
    me = probe.ask("GET /v1/me", lambda: suite.http("GET", "/v1/me", headers=person.auth))
    assert me.status_code == 503, me.text
    assert me.headers.get("Retry-After"), me.headers
    usage = probe.ask("POST /v1/usage-events", terminal.send_once)
    assert usage.status_code == usage_status, usage.text
    if usage_status == 503:
        assert usage.headers.get("Retry-After"), usage.headers
    return probe


def pids(suite: Suite) -> dict[str, int | None]:
    return {
        component: suite.supervisor.pid(component) for component in (*config.SERVICES, "gateway")
    }


def recovered(suite: Suite, before: dict[str, int | None], tally: Tally) -> dict[str, Any]:
    """Ready again without a restart, nothing parked."""
    started = time.monotonic()
    body = suite.supervisor.wait_ready(timeout=RECOVERY_SECONDS)
    assert pids(suite) == before, "a process was restarted (or died) instead of reconnecting"
    assert set(body["dead_letters"].values()) == {0}, body["dead_letters"]
    assert tally.server_errors() == {}, tally.server_errors()
    return {"seconds until ready again": round(time.monotonic() - started, 1)}


def terminal_of(suite: Suite, tally: Tally) -> tuple[Person, Terminal]:
    owner = suite.new_person()
    org_id = suite.new_org(owner)["id"]
    api_key = new_key(suite, owner, org_id, ["usage:write"])
    return owner, Terminal(suite, api_key, tally)


def counted_once(suite: Suite, terminal: Terminal) -> dict[str, int]:
    wait_until_quiet(suite)
    stored, rolled_up = terminal.counted()
    assert (stored, rolled_up) == (terminal.accepted, terminal.accepted)
    return {
        "usage events accepted (202)": terminal.accepted,
        "usage events stored": stored,
        "usage events in the rollups": rolled_up,
    }


def report(fault: str, counts: dict[str, Any]) -> None:
    print(f"\n{fault}:\n" + json.dumps(counts, indent=2))


def test_rabbitmq_restart_under_load(servers: Servers) -> None:
    suite = servers.suite
    tally = Tally()
    owner, terminal = terminal_of(suite, tally)
    suite.sign_in(STAFF_EMAIL)
    before = pids(suite)
    terminal.start()
    terminal.wait_for_batches(2)

    servers.rabbit.stop()
    try:
        probe = probe_outage(suite, owner, terminal, usage_status=503)
    finally:
        servers.rabbit.start()
    assert "broker" in probe.answers[0]["error"].get("fields", {}), probe.answers[0]

    counts = recovered(suite, before, tally)
    terminal.wait_for_batches(2)
    terminal.stop()
    counts |= counted_once(suite, terminal)
    report(
        "RabbitMQ stopped and started",
        counts | {"during the outage": probe.answers, "answers": dict(tally.answers)},
    )


def test_postgresql_restart_under_load(servers: Servers) -> None:
    suite = servers.suite
    tally = Tally()
    owner, terminal = terminal_of(suite, tally)
    before = pids(suite)
    terminal.start()
    terminal.wait_for_batches(2)

    servers.postgres.stop()
    try:
        # Usage is accepted while only the database is down: it waits in RabbitMQ.
        probe = probe_outage(suite, owner, terminal, usage_status=202)
        accepted_during = terminal.accepted
        terminal.wait_for_batches(OUTAGE_BATCHES)
        assert terminal.accepted > accepted_during
    finally:
        servers.postgres.start()
    down = probe.answers[0]["error"].get("fields", {})
    assert set(config.SERVICES) <= set(down), probe.answers[0]

    counts = recovered(suite, before, tally)
    terminal.wait_for_batches(2)
    terminal.stop()
    counts |= counted_once(suite, terminal)
    report(
        "PostgreSQL stopped and started",
        counts | {"during the outage": probe.answers, "answers": dict(tally.answers)},
    )
