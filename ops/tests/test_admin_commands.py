"""The operators' commands against a real broker and database (this run's vhost and
database): health, queue depths, staff users, the Paynow key, the usage back-fill."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection
from nameko.containers import ServiceContainer
from sqlalchemy import select

from ops import processes, queues
from ops.__main__ import main
from ops.processes import ROOT
from services.identity.models import ApiKey, User
from services.identity.tests.helpers import make_organization, make_person
from services.metering import ingest
from services.metering.events import USAGE_QUEUE
from services.metering.models import UsageEvent
from services.notifications.service import NotificationsService
from shared import config, context
from shared.unit_of_work import UnitOfWork
from tests.harness import RunEnvironment

UnitOfWorkFactory = Callable[[str], AbstractContextManager[UnitOfWork]]


@pytest.fixture
def notifications(test_environment: RunEnvironment) -> Iterator[ServiceContainer]:
    """The notifications service running in this process, on this run's broker and
    database: its queues exist and have a consumer."""
    container = ServiceContainer(NotificationsService, config.nameko_config())
    container.start()
    try:
        yield container
    finally:
        container.stop()


def test_health_answers_for_a_running_service_and_fails_for_one_that_is_not(
    notifications: ServiceContainer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["health", "notifications"]) == 0
    assert "notifications  ok" in capsys.readouterr().out

    assert main(["health", "notifications", "support", "--timeout", "3"]) == 1
    out = capsys.readouterr().out
    # A service that never ran here has no queue (UnknownService); one that ran and
    # stopped leaves its queue and does not answer in time. Either way: not healthy.
    assert "support        failed:" in out


def test_the_probe_command_exits_0_in_a_process_of_its_own(
    notifications: ServiceContainer,
) -> None:
    """Exactly what the Kubernetes readiness probe and the compose healthcheck run."""
    probe = [sys.executable, "-W", "ignore", "-m", "ops", "health", "notifications"]
    done = subprocess.run(probe, cwd=ROOT, env=os.environ, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    stopped = subprocess.run([*probe[:-1], "support", "--timeout", "3"], cwd=ROOT,
                             env=os.environ, capture_output=True, text=True)  # fmt: skip
    assert stopped.returncode == 1


def test_health_run_by_hand_uses_the_key_make_up_keeps(
    notifications: ServiceContainer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = config.CONTEXT_SIGNING_KEY.name
    (tmp_path / processes.SIGNING_KEY_FILE).write_text(os.environ[name] + "\n")
    monkeypatch.setenv("CVT_VAR_DIR", str(tmp_path))
    monkeypatch.delenv(name)
    assert main(["health", "notifications"]) == 0

    monkeypatch.delenv(name)
    monkeypatch.setenv("CVT_VAR_DIR", str(tmp_path / "none"))
    assert main(["health", "notifications"]) == 1
    assert "error: CONTEXT_SIGNING_KEY is not set" in capsys.readouterr().out


def test_queue_depths_name_every_queue_the_running_service_consumes(
    notifications: ServiceContainer, capsys: pytest.CaptureFixture[str]
) -> None:
    found = queues.depths(config.AMQP_URI.get(), ("notifications",))
    *consumed, parked = found
    assert consumed[0].queue == "rpc-notifications"
    assert any(d.queue.startswith("evt-identity-user.registered--notifications.") for d in consumed)
    # Every name derived from the class is a queue nameko declared and consumes.
    assert [(d.queue, d.consumers) for d in consumed if d.consumers != 1] == []
    assert parked.queue == "notifications.dead-letters" and parked.consumers in (None, 0)

    assert main(["queues", "notifications"]) == 0
    assert "rpc-notifications" in capsys.readouterr().out
    summary = queues.summary_rows(found)
    assert summary[0][:2] == ("notifications", "1")


def test_status_shows_each_service_s_instances_from_the_broker(
    notifications: ServiceContainer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CVT_VAR_DIR", str(tmp_path))  # no local processes: all "stopped"
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    header = "service        instances  waiting  busiest queue  dead letters"
    assert header in out
    # The table: from the line under the header's dashes to the first blank line.
    table = out.split(header, 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    rows = {cells[0]: cells[1] for cells in map(str.split, table)}
    assert rows.keys() >= set(config.SERVICES)
    assert rows["notifications"] == "1"
    assert rows["billing"] in ("-", "0")  # not running: no queue, or one nobody consumes


def test_staff_create_makes_a_staff_user_once(
    unit_of_work: UnitOfWorkFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    email = f"ops-{make_person(unit_of_work).id}@cvt.co.zw"
    assert main(["staff", "create", email, "--name", "Rudo"]) == 0
    assert "generated password (shown once)" in capsys.readouterr().out
    assert main(["staff", "create", email]) == 0
    assert "already a user: now staff" in capsys.readouterr().out
    with unit_of_work("identity") as uow:
        user = uow.session.scalar(select(User).where(User.email == email))
        assert user is not None and user.is_admin and user.name == "Rudo"


def test_staff_create_refuses_a_short_password(
    test_environment: RunEnvironment,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["staff", "create", "short@cvt.co.zw", "--password-stdin"]) == 1
    assert "error: password: between 10 and 256 characters" in capsys.readouterr().out


def test_paynow_rotate_key_keeps_the_id_and_replaces_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CVT_VAR_DIR", str(tmp_path))
    monkeypatch.delenv(config.PAYNOW_INTEGRATION_KEY.name, raising=False)
    integration_id, old_key = processes.local_paynow_integration(tmp_path)
    new_key = "0b7a4d52-9a3e-4c55-8d0e-3f1f2a6b7c8d"

    assert main(["paynow", "rotate-key", "--key", new_key]) == 0

    assert processes.local_paynow_integration(tmp_path) == (integration_id, new_key)
    assert (tmp_path / processes.PAYNOW_INTEGRATION_FILE).stat().st_mode & 0o777 == 0o600
    assert "payments          not running" in capsys.readouterr().out
    assert main(["paynow", "rotate-key", "--key", "not-a-guid"]) == 1

    monkeypatch.setenv(config.PAYNOW_INTEGRATION_KEY.name, old_key)
    assert main(["paynow", "rotate-key"]) == 1
    assert "the environment sets PAYNOW_INTEGRATION_KEY" in capsys.readouterr().out


# --- usage back-fill --------------------------------------------------------------------------


def take_usage_messages() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(body, headers) of every message on metering's usage queue, taken off it."""
    taken = []
    with Connection(config.AMQP_URI.get()) as connection:
        queue = connection.SimpleQueue(USAGE_QUEUE.name, queue_opts={"durable": True})
        while queue.qsize():
            message = queue.get(timeout=5)
            taken.append((message.payload, message.headers))
            message.ack()
        queue.close()
    return taken


def record(unit_of_work: UnitOfWorkFactory, messages: list[tuple[dict, dict]]) -> tuple[int, int]:
    """What metering's consumer does with each message: (new events, duplicates)."""
    new = duplicates = 0
    for body, _ in messages:
        events, problems = ingest.storable_events(body)
        assert problems == {}
        with unit_of_work("metering") as uow:
            added, seen = ingest.record_usage(uow, body, events)
        new, duplicates = new + added, duplicates + seen
    return new, duplicates


@pytest.fixture
def organization(unit_of_work: UnitOfWorkFactory) -> str:
    take_usage_messages()  # nothing left over from another test
    return make_organization(unit_of_work, make_person(unit_of_work))


def test_backfill_sends_a_csv_file_once_however_often_it_is_run(
    unit_of_work: UnitOfWorkFactory,
    organization: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "organization_id,event_type,quantity,timestamp,idempotency_key,event_data\n"
        f"{organization},pos.transaction,1,2026-01-05T09:30:00+02:00,till1-1,"
        '"{""amount_cents"": 1250}"\n'
        f"{organization},pos.transaction,,2026-01-05T09:31:00+02:00,till1-2,\n"
        f"{organization},pos.refund,3,2025-12-31T23:59:59+00:00,till1-3,\n"
    )
    assert main(["usage", "backfill", str(usage)]) == 0
    out = capsys.readouterr().out
    assert "3/3 events" in out and "usage.csv  3     3      0" in out

    messages = take_usage_messages()
    assert [len(body["events"]) for body, _ in messages] == [3]
    body, headers = messages[0]
    assert body["organization_id"] == organization and body["api_key_id"] is None
    signed = {k.removeprefix(context.HEADER_PREFIX): v for k, v in headers.items()}
    assert context.CallContext.verified(signed).actor_type == context.SYSTEM
    assert record(unit_of_work, messages) == (3, 0)

    assert main(["usage", "backfill", str(usage)]) == 0
    assert record(unit_of_work, take_usage_messages()) == (0, 3)
    with unit_of_work("metering") as uow:
        rows = uow.session.scalars(
            select(UsageEvent).where(UsageEvent.organization_id == organization)
        ).all()
        assert sorted((r.idempotency_key, r.quantity) for r in rows) == [
            ("till1-1", 1), ("till1-2", 1), ("till1-3", 3),
        ]  # fmt: skip
        assert [r.event_data for r in rows if r.idempotency_key == "till1-1"] == [
            {"amount_cents": 1250}
        ]


def test_backfill_names_every_bad_line_and_sends_nothing(
    unit_of_work: UnitOfWorkFactory,
    organization: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = make_organization(unit_of_work, make_person(unit_of_work))
    with unit_of_work("identity") as uow:
        key = ApiKey(organization_id=other, name="till", key_hash="h" * 64, key_prefix="cvt_x")
        uow.session.add(key)
        uow.session.flush()
        others_key = key.id
    good = {"organization_id": organization, "event_type": "pos.transaction",
            "timestamp": "2026-01-05T09:30:00+00:00", "idempotency_key": "k-1"}  # fmt: skip
    lines = [
        good,
        good | {"event_type": "pos.unknown"},
        good | {"quantity": 0},
        good | {"timestamp": "2999-01-01T00:00:00+00:00"},
        good | {"timestamp": "2026-01-05 09:30"},
        good | {"organization_id": "c" + "0" * 24},
        good | {"api_key_id": others_key},
        good | {"event_data": "not an object"},
        {key: value for key, value in good.items() if key != "timestamp"},
    ]
    usage = tmp_path / "usage.jsonl"
    usage.write_text("\n".join(json.dumps(line) for line in lines) + "\n")

    assert main(["usage", "backfill", str(usage)]) == 1

    out = capsys.readouterr().out
    expected = [
        "2     event_type: not a registered event type",
        "3     quantity: an integer from 1 to 1000000",
        "4     timestamp: in the future",
        "5     timestamp: an ISO-8601 time with a UTC offset",
        "6     organization_id: no such organization",
        "7     api_key_id: not an API key of this organization",
        "8     event_data: a JSON object",
        "9     timestamp: required in a back-fill",
    ]
    for line in expected:
        assert line in out
    assert "usage.jsonl  9     1      8" in out and "nothing sent" in out
    assert take_usage_messages() == []
    assert main(["usage", "backfill", "--dry-run", str(tmp_path / "missing.csv")]) == 1
