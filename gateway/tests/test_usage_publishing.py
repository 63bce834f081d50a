"""What a usage batch carries to metering besides its events: the signed call context of
the request, and (when tracing) the request's span, so metering continues the trace."""

from __future__ import annotations

from collections.abc import Iterator
from unittest.mock import Mock

import pytest
from opentelemetry.sdk.trace import TracerProvider

from gateway.usage import UsageRecorder
from services.metering.events import USAGE_EXCHANGE, USAGE_ROUTING_KEY
from shared import context, tracing


@pytest.fixture(autouse=True)
def unbound_afterwards() -> Iterator[None]:
    yield
    context.bind(context.CallContext())


def published_headers(recorder: UsageRecorder) -> dict[str, str]:
    [call] = recorder.publisher.publish.call_args_list
    assert call.kwargs["exchange"] == USAGE_EXCHANGE
    assert call.kwargs["routing_key"] == USAGE_ROUTING_KEY
    return call.kwargs["headers"]


def recorder() -> UsageRecorder:
    made = UsageRecorder()
    made.publisher = Mock()
    return made


def test_a_batch_carries_the_signed_call_context_and_the_requests_span(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tracing, "_tracer", TracerProvider().get_tracer("test"))
    monkeypatch.setattr(tracing, "_enabled", True)
    terminal = context.CallContext(
        request_id="req-usage", actor_id="key-1", actor_type=context.API_KEY
    )
    context.bind(terminal)
    usage = recorder()
    with tracing._tracer.start_as_current_span("POST /v1/usage-events") as span:
        usage.publish({"organization_id": "org-1", "events": []})

    headers = published_headers(usage)
    data = {k.removeprefix(context.HEADER_PREFIX): v for k, v in headers.items()}
    assert context.CallContext.verified(data) == terminal
    request_span = span.get_span_context()
    assert headers["nameko.traceparent"].startswith(
        f"00-{request_span.trace_id:032x}-{request_span.span_id:016x}-"
    )


def test_without_tracing_a_batch_carries_no_trace_headers() -> None:
    context.bind(context.CallContext(request_id="req-untraced"))
    usage = recorder()
    usage.publish({"organization_id": "org-1", "events": []})
    assert not any("traceparent" in name for name in published_headers(usage))
