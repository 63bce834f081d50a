"""Trace context across RPC and events behind nameko's real container, on the real broker:
one trace id, each span the child of the one that caused it, the signed call context
untouched; and nothing at all while tracing is off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Exchange, Queue
from nameko.amqp.publish import Publisher
from nameko.containers import ServiceContainer
from nameko.events import event_handler
from nameko.rpc import RpcProxy, rpc
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from services.identity.events import OrganizationCreated
from services.identity.models import Organization, tables
from shared import config, context, tracing
from shared.dependencies import CallContextProvider, Telemetry
from shared.entrypoints import queue_consumer
from shared.ids import cuid
from shared.rpc import call
from shared.unit_of_work import UnitOfWork
from shared.waiting import wait_until
from tests.harness import RunEnvironment

SOURCE = "tracingsource"
WORK_EXCHANGE = Exchange("tracing.work", type="direct", durable=True)
WORK_QUEUE = Queue("tracing.work", WORK_EXCHANGE, routing_key="work", durable=True)


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """Tracing on, spans kept in memory (the OTLP export is the integration test's)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    monkeypatch.setattr(tracing, "_enabled", True)
    return exporter


class Back:
    name = "tracingback"
    call_context = CallContextProvider()
    telemetry = Telemetry()
    seen: list[context.CallContext] = []

    @rpc
    def world(self) -> str:
        Back.seen.append(context.current())
        return "world"

    @event_handler(SOURCE, "thing.happened")
    def on_thing(self, payload: dict[str, Any]) -> None:
        Back.seen.append(context.current())

    @queue_consumer(WORK_QUEUE)
    def on_work(self, message: dict[str, Any]) -> None:
        Back.seen.append(context.current())


class Front:
    name = "tracingfront"
    call_context = CallContextProvider()
    telemetry = Telemetry()
    back = RpcProxy("tracingback")

    @rpc
    def hello(self) -> str:
        return "hello " + call(self.back.world)


@pytest.fixture
def services(test_environment: RunEnvironment) -> Iterator[str]:
    Back.seen = []
    containers = [
        ServiceContainer(cls, {"AMQP_URI": test_environment.amqp_uri}) for cls in (Back, Front)
    ]
    for container in containers:
        container.start()
    yield test_environment.amqp_uri
    for container in containers:
        container.stop()


def named(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    [span] = [span for span in exporter.get_finished_spans() if span.name == name]
    return span


def test_an_rpc_chain_is_one_trace_each_span_the_child_of_its_caller(
    services: str, spans: InMemorySpanExporter
) -> None:
    caller = context.CallContext(request_id="req-traced", actor_type=context.SYSTEM)
    with tracing._tracer.start_as_current_span("test") as root:
        data = caller.to_context_data() | tracing.carrier()
        with ClusterRpcProxy({"AMQP_URI": services}, context_data=data, timeout=10) as cluster:
            assert cluster.tracingfront.hello() == "hello world"
    wait_until(lambda: len(spans.get_finished_spans()) >= 4, 20, "every span to end")

    front = named(spans, "tracingfront.hello")
    client = next(s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT)
    back = next(
        s for s in spans.get_finished_spans() if s.name == "tracingback.world" and s is not client
    )
    trace_id = root.get_span_context().trace_id
    assert {s.context.trace_id for s in (front, client, back)} == {trace_id}
    assert front.parent.span_id == root.get_span_context().span_id
    assert client.name == "tracingback.world"
    assert client.parent.span_id == front.context.span_id
    assert back.parent.span_id == client.context.span_id
    assert front.kind == back.kind == SpanKind.SERVER
    # The signed context came through beside the trace context, still believed.
    assert Back.seen[0].request_id == "req-traced"


def test_an_event_handler_continues_the_trace_of_the_emitter(
    services: str, spans: InMemorySpanExporter
) -> None:
    sender = context.CallContext(request_id="req-event", actor_type=context.SYSTEM)
    with tracing._tracer.start_as_current_span("emitter") as emitter:
        headers = sender.to_headers() | tracing.message_headers()
    event_dispatcher({"AMQP_URI": services}, headers=headers)(SOURCE, "thing.happened", {"n": 1})

    handled = wait_until(
        lambda: next(
            (s for s in spans.get_finished_spans() if s.name == "tracingback.on_thing"), None
        ),
        20,
        "the handler's span",
    )
    assert handled.context.trace_id == emitter.get_span_context().trace_id
    assert handled.parent.span_id == emitter.get_span_context().span_id
    assert Back.seen[0].request_id == "req-event"


def test_a_work_queue_consumer_continues_the_trace_of_the_publisher(
    services: str, spans: InMemorySpanExporter
) -> None:
    """As the gateway hands a usage batch to metering: published with the call context and
    the span's headers (`gateway.usage.UsageRecorder.publish`), consumed on a work queue."""
    sender = context.CallContext(request_id="req-work", actor_type=context.SYSTEM)
    with tracing._tracer.start_as_current_span("publisher") as publisher:
        headers = sender.to_headers() | tracing.message_headers()
    Publisher(services, serializer="json", declare=[WORK_QUEUE]).publish(
        {"n": 1}, exchange=WORK_EXCHANGE, routing_key="work", headers=headers
    )

    consumed = wait_until(
        lambda: next(
            (s for s in spans.get_finished_spans() if s.name == "tracingback.on_work"), None
        ),
        20,
        "the consumer's span",
    )
    assert consumed.kind == SpanKind.CONSUMER
    assert consumed.context.trace_id == publisher.get_span_context().trace_id
    assert consumed.parent.span_id == publisher.get_span_context().span_id
    assert Back.seen[0].request_id == "req-work"


@pytest.fixture
def session_factory(test_environment: RunEnvironment):
    engine = create_engine(test_environment.database_url)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def emit_organization(session_factory: Any) -> str:
    with UnitOfWork(session_factory, tables) as uow:
        org = Organization(name="Traced", slug=f"traced-{cuid()}", email="t@x.co")
        uow.session.add(org)
        uow.session.flush()
        return uow.emit(
            OrganizationCreated(
                organization_id=org.id,
                name=org.name,
                slug=org.slug,
                email=org.email,
                owner_user_id=cuid(),
            )
        )


def outbox_headers(session_factory: Any, event_id: str) -> dict[str, Any]:
    with session_factory() as session:
        model = tables.outbox_message
        return session.scalar(select(model.headers).where(model.id == event_id))


def test_an_event_put_in_the_outbox_carries_the_span_that_emitted_it(
    session_factory: Any, spans: InMemorySpanExporter
) -> None:
    with tracing._tracer.start_as_current_span("emitting") as span:
        event_id = emit_organization(session_factory)

    traceparent = outbox_headers(session_factory, event_id)["nameko.traceparent"]
    context_of_span = span.get_span_context()
    assert traceparent.startswith(
        f"00-{context_of_span.trace_id:032x}-{context_of_span.span_id:016x}-"
    )


def test_while_tracing_is_off_nothing_is_traced_or_carried(
    services: str, session_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(config.OTEL_EXPORTER_OTLP_ENDPOINT.name, raising=False)
    monkeypatch.delenv(tracing.TRACES_ENDPOINT, raising=False)
    assert not tracing.configure("test")
    assert not tracing.enabled()
    assert tracing.start_span("x", SpanKind.SERVER, {}) is None
    assert tracing.carrier() == {}

    signed = context.CallContext(actor_type=context.SYSTEM).to_context_data()
    with ClusterRpcProxy({"AMQP_URI": services}, context_data=signed, timeout=10) as cluster:
        assert cluster.tracingfront.hello() == "hello world"
    event_id = emit_organization(session_factory)
    assert "nameko.traceparent" not in outbox_headers(session_factory, event_id)
