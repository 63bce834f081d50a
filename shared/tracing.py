"""OpenTelemetry traces across the suite: gateway → RPC → events → handlers, one trace id.

Off unless an OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`, or the
traces-only `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): then nothing is set up, every hook
below returns at its first line, and the API's no-op tracer is all there is. When on, each
process exports its spans over OTLP/HTTP (protobuf) in batches from a background thread,
as the service named after its component; the other `OTEL_*` variables of the SDK
(sampler, headers, timeouts, resource attributes) apply as documented there.

The trace context travels as W3C `traceparent` (and `tracestate`) in nameko's context
data, beside the request id, so nameko sends it as `nameko.traceparent` headers on every
RPC call and event; the gateway takes a client's `traceparent` header as the parent of its
own span. It is not part of the signed call context (`shared.context`): it changes with
every span, grants nothing, and a forged one can only mislead a trace, never a service.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import DefaultGetter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared import config, context

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
# Context-data keys that are not the call context, and are kept when it is replaced.
CARRIER_KEYS = (TRACEPARENT, TRACESTATE)
TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"

_propagator = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("cvt")
_enabled = False


def enabled() -> bool:
    return _enabled


def configure(component: str) -> bool:
    """Export this process's spans as service `component` if an endpoint is configured."""
    global _enabled, _tracer
    if not (config.OTEL_EXPORTER_OTLP_ENDPOINT.get() or os.environ.get(TRACES_ENDPOINT)):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: component}))
    # The exporter reads the endpoint (+ /v1/traces), headers and timeout from the env.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer("cvt")
    _enabled = True
    return True


def carrier() -> dict[str, str]:
    """The current span's context as context-data keys (empty when there is none)."""
    out: dict[str, str] = {}
    if _enabled:
        _propagator.inject(out)
    return out


def message_headers() -> dict[str, str]:
    """The same as AMQP headers (`nameko.traceparent`), for messages published without
    nameko's help: outbox rows, work-queue messages."""
    return {context.HEADER_PREFIX + key: value for key, value in carrier().items()}


def publishing_headers() -> dict[str, Any]:
    """AMQP headers for a message published without nameko's help (outbox rows, work-queue
    messages): the current call context, signed, and the current span, so its consumer
    knows who caused it and (tracing on) continues the trace."""
    return context.current().to_headers() | message_headers()


class _HeadersGetter(DefaultGetter):
    """Werkzeug's headers: `get` finds a header whatever its case, and gives one value."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        value = carrier.get(key)
        return [value] if value else None


_HEADERS_GETTER = _HeadersGetter()
_DATA_GETTER = DefaultGetter()


class Started(NamedTuple):
    """A span made current in this greenthread; `token` restores the context before it."""

    span: Span
    token: object


def start_span(
    name: str,
    kind: SpanKind,
    parent_from: Mapping[str, Any],
    attributes: dict[str, str] | None = None,
    http_headers: bool = False,
) -> Started | None:
    """A span for the work this greenthread is about to do, child of the context that
    `parent_from` carries (context data, or HTTP headers), made current until `end_span`.
    None when tracing is off."""
    if not _enabled:
        return None
    getter = _HEADERS_GETTER if http_headers else _DATA_GETTER
    parent = _propagator.extract(parent_from, getter=getter)
    span = _tracer.start_span(name, context=parent, kind=kind, attributes=attributes)
    token = otel_context.attach(trace.set_span_in_context(span, parent))
    return Started(span, token)


def fail_span(started: Started, exc: BaseException, expected: bool) -> None:
    """A refusal (`expected`) is an answer, not a fault: noted, but the span stays OK."""
    started.span.record_exception(exc)
    if not expected:
        started.span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


def end_span(started: Started) -> None:
    started.span.end()
    otel_context.detach(started.token)


@contextmanager
def rpc_call(method: Any) -> Iterator[None]:
    """A client span around one RPC call made with nameko's MethodProxy `method`: the
    request carries it as parent (nameko copies the worker's context data into the
    message headers before it first yields), and afterwards the worker's context data
    carries the span that made the call again."""
    if not _enabled:
        yield
        return
    data = method.worker_ctx.data
    try:
        with _tracer.start_as_current_span(
            f"{method.service_name}.{method.method_name}",
            kind=SpanKind.CLIENT,
            attributes={"rpc.system": "nameko", "rpc.service": method.service_name},
        ):
            carry(data)
            yield
    finally:
        carry(data)


def carry(data: dict[str, Any]) -> None:
    """Make context data `data` carry the current span (and nothing older)."""
    for key in CARRIER_KEYS:
        data.pop(key, None)
    data.update(carrier())


def trace_id() -> str | None:
    """The current trace id as 32 hex digits, for log lines; None outside a trace."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None
