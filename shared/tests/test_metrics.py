"""Each process's Prometheus metrics: entrypoint calls by outcome with their latency behind
nameko's real container, business counters moved by committed events only, the outbox
backlog read at scrape time, the endpoint itself, and a port of its own per process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from nameko.containers import ServiceContainer
from nameko.exceptions import RemoteError
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy
from prometheus_client import REGISTRY, generate_latest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker
from werkzeug.test import Client
from werkzeug.wrappers import Response

from ops.processes import METERED, Supervisor, free_port
from services.billing.events import InvoiceIssued
from services.identity.events import OrganizationCreated
from services.identity.models import Organization, tables
from services.payments.events import PaymentFailed, PaymentPaid
from shared import config, context, metrics
from shared.clock import utcnow
from shared.dependencies import CallContextProvider, Telemetry
from shared.errors import NotFound
from shared.event_catalogue import contracts_by_route
from shared.ids import cuid
from shared.outbox import OutboxRelay
from shared.unit_of_work import UnitOfWork
from shared.waiting import wait_until
from tests.harness import RunEnvironment


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Counted:
    name = "metricscounted"
    call_context = CallContextProvider()
    telemetry = Telemetry()

    @rpc
    def works(self) -> str:
        return "ok"

    @rpc
    def refuses(self) -> None:
        raise NotFound("nothing here")

    @rpc
    def breaks(self) -> None:
        raise RuntimeError("a bug")


@pytest.fixture
def counted(test_environment: RunEnvironment) -> Iterator[str]:
    container = ServiceContainer(Counted, {"AMQP_URI": test_environment.amqp_uri})
    container.start()
    yield test_environment.amqp_uri
    container.stop()


def test_entrypoint_calls_are_counted_by_outcome_with_their_latency(counted: str) -> None:
    def calls(entrypoint: str, outcome: str) -> float:
        return sample(
            "cvt_entrypoint_calls_total",
            service=Counted.name,
            entrypoint=entrypoint,
            outcome=outcome,
        )

    before = {
        "works": calls("works", "ok"),
        "refuses": calls("refuses", "refused"),
        "breaks": calls("breaks", "error"),
    }
    latency_before = sample(
        "cvt_entrypoint_duration_seconds_count", service=Counted.name, entrypoint="works"
    )
    signed = context.CallContext(actor_type=context.SYSTEM).to_context_data()
    with ClusterRpcProxy({"AMQP_URI": counted}, context_data=signed, timeout=10) as cluster:
        assert cluster.metricscounted.works() == "ok"
        assert cluster.metricscounted.works() == "ok"
        with pytest.raises(NotFound):
            cluster.metricscounted.refuses()
        with pytest.raises(RemoteError):
            cluster.metricscounted.breaks()

    # Nameko sends the reply before the worker's result hooks run, where calls are counted.
    wait_until(
        lambda: (
            calls("breaks", "error") > before["breaks"]
            and calls("works", "ok") >= before["works"] + 2
            and calls("refuses", "refused") > before["refuses"]
        ),
        10,
        "every call counted",
    )
    assert calls("works", "ok") == before["works"] + 2
    assert calls("refuses", "refused") == before["refuses"] + 1
    assert calls("breaks", "error") == before["breaks"] + 1
    assert calls("refuses", "error") == 0
    assert (
        sample(
            "cvt_entrypoint_errors_total",
            service=Counted.name,
            entrypoint="breaks",
            error="RuntimeError",
        )
        >= 1
    )
    assert (
        sample("cvt_entrypoint_duration_seconds_count", service=Counted.name, entrypoint="works")
        == latency_before + 2
    )


def test_the_events_behind_business_counters_have_contracts() -> None:
    routes = set(contracts_by_route())
    assert metrics.INVOICE_ISSUED in routes
    assert set(metrics.PAYMENT_STATUS_OF_EVENT) <= routes


def payment_fields() -> dict[str, object]:
    return {
        "payment_id": cuid(),
        "invoice_id": cuid(),
        "organization_id": cuid(),
        "billing_account_id": cuid(),
        "amount": 1500,
        "method": "ecocash",
    }


def test_committed_events_move_the_business_counters() -> None:
    issued = sample("cvt_invoices_issued_total")
    paid = sample("cvt_payments_total", status="PAID", method="ecocash")
    cancelled = sample("cvt_payments_total", status="CANCELLED", method="ecocash")
    invoice = InvoiceIssued(
        invoice_id=cuid(),
        invoice_number="INV-2026-000001",
        organization_id=cuid(),
        billing_account_id=cuid(),
        total=1500,
        amount_due=1500,
        due_at=utcnow().isoformat(),
    )

    metrics.count_committed(
        [
            invoice,
            PaymentPaid(**payment_fields()),
            PaymentFailed(**payment_fields(), status="CANCELLED", reason="payer cancelled"),
        ]
    )

    assert sample("cvt_invoices_issued_total") == issued + 1
    assert sample("cvt_payments_total", status="PAID", method="ecocash") == paid + 1
    assert sample("cvt_payments_total", status="CANCELLED", method="ecocash") == cancelled + 1
    assert sample("cvt_events_committed_total", service="billing", event_type="invoice.issued")


@pytest.fixture
def session_factory(test_environment: RunEnvironment):
    engine = create_engine(test_environment.database_url)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def emit_organization(uow: UnitOfWork) -> None:
    org = Organization(name="Metrics", slug=f"metrics-{cuid()}", email="m@x.co")
    uow.session.add(org)
    uow.session.flush()
    uow.emit(
        OrganizationCreated(
            organization_id=org.id,
            name=org.name,
            slug=org.slug,
            email=org.email,
            owner_user_id=cuid(),
        )
    )


def test_only_committed_events_are_counted(session_factory) -> None:
    def created() -> float:
        return sample(
            "cvt_events_committed_total", service="identity", event_type="organization.created"
        )

    before = created()
    with pytest.raises(RuntimeError), UnitOfWork(session_factory, tables) as uow:
        emit_organization(uow)
        raise RuntimeError("rolled back")
    assert created() == before

    with UnitOfWork(session_factory, tables) as uow:
        emit_organization(uow)
    assert created() == before + 1


def test_the_outbox_backlog_is_read_when_scraped(
    session_factory, test_environment: RunEnvironment
) -> None:
    relay = OutboxRelay(
        "identity", test_environment.amqp_uri, session_factory, tables.outbox_message
    )
    with UnitOfWork(session_factory, tables) as uow:  # no after_commit: it stays unpublished
        emit_organization(uow)
    unpublished, oldest = relay.backlog()
    assert unpublished >= 1
    assert oldest is not None and oldest >= 0

    metrics.watch_service("metricsoutbox", metrics.ServiceState(relay.backlog, lambda: 7))
    try:
        assert sample("cvt_outbox_unpublished", service="metricsoutbox") == unpublished
        assert sample("cvt_dead_letters", service="metricsoutbox") == 7
        relay.drain()
        assert sample("cvt_outbox_unpublished", service="metricsoutbox") == 0
    finally:
        metrics.unwatch_service("metricsoutbox")
    assert sample("cvt_outbox_unpublished", service="metricsoutbox") == 0.0


def test_a_source_that_fails_is_left_out_of_the_scrape() -> None:
    def database_away() -> tuple[int, float | None]:
        raise ConnectionError("database away")

    metrics.watch_service("metricsbroken", metrics.ServiceState(database_away, lambda: 2))
    try:
        exposition = generate_latest(REGISTRY).decode()
    finally:
        metrics.unwatch_service("metricsbroken")
    assert 'cvt_dead_letters{service="metricsbroken"} 2.0' in exposition
    assert 'cvt_outbox_unpublished{service="metricsbroken"}' not in exposition


def test_the_endpoint_serves_the_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv(config.METRICS_PORT.name, str(port))
    assert metrics.serve("test") == port
    metrics.count_usage(3, 1)

    exposition = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text

    assert 'cvt_usage_events_total{outcome="ingested"}' in exposition
    assert "# TYPE cvt_entrypoint_duration_seconds histogram" in exposition


def test_a_taken_port_or_zero_serves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv(config.METRICS_PORT.name, str(port))
    assert metrics.serve("first") == port
    assert metrics.serve("second") is None
    monkeypatch.setenv(config.METRICS_PORT.name, "0")
    assert metrics.serve("off") is None


def test_the_supervisor_gives_each_process_a_port_of_its_own(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path, env={config.METRICS_PORT.name: "9300"})
    ports = {component: supervisor.metrics_port(component) for component in METERED}

    assert sorted(ports.values()) == list(range(9300, 9300 + len(METERED)))
    assert supervisor.metrics_port("mailsink") is None
    assert supervisor.component_env("billing")[config.METRICS_PORT.name] == str(ports["billing"])
    assert supervisor.metrics_url("gateway") == f"http://127.0.0.1:{ports['gateway']}/metrics"

    off = Supervisor(tmp_path, env={config.METRICS_PORT.name: "0"})
    assert off.metrics_port("billing") is None
    assert off.component_env("billing")[config.METRICS_PORT.name] == "0"


def test_every_answer_is_counted_by_status() -> None:
    app = metrics.counting_statuses(Response("no coffee", status=418))
    before = sample("cvt_http_responses_total", status="418")

    assert Client(app).get("/anything").status_code == 418

    assert sample("cvt_http_responses_total", status="418") == before + 1
