"""With an OTLP collector configured, one payment is one trace from the gateway to the
receipt email: Paynow's status post enters at the gateway, payments confirms and settles
it, billing applies it, notifications sends the receipt — each span the child of the one
that caused it, over RPC and events. The collector is a tiny OTLP/HTTP server in this test
process, decoding what every process of a suite of its own exports. That suite also logs
JSON lines, which carry the trace id."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto

from ops import database
from shared import config
from shared.waiting import wait_until
from tests.harness import exported, run_environment
from tests.integration.conftest import STAFF_EMAIL, Person, Suite, running_suite
from tests.integration.payments_helpers import (
    PAID_SOON,
    billed_organization,
    pay_by_token,
    started,
    wait_for_money,
)

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str


class Collector:
    """Receives OTLP/HTTP exports (protobuf) at /v1/traces and keeps every span."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self._lock = threading.Lock()
        collector = self

        class Receive(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                collector.receive(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Receive)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def receive(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            service = next(
                attribute.value.string_value
                for attribute in resource_spans.resource.attributes
                if attribute.key == "service.name"
            )
            with self._lock:
                self.spans.extend(
                    Span(
                        service,
                        span.name,
                        span.kind,
                        span.trace_id.hex(),
                        span.span_id.hex(),
                        span.parent_span_id.hex(),
                    )
                    for scope_spans in resource_spans.scope_spans
                    for span in scope_spans.spans
                )

    def trace(self, trace_id: str) -> list[Span]:
        with self._lock:
            return [span for span in self.spans if span.trace_id == trace_id]

    def named(self, name: str) -> list[Span]:
        with self._lock:
            return [span for span in self.spans if span.name == name]


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    running = Collector()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()


@pytest.fixture(scope="module")
def traced_suite(collector: Collector, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    """A suite of its own (its database, vhost and ports) exporting to the collector."""
    with run_environment() as environment:
        with exported(environment):
            database.migrate_all()
        settings = {
            config.OTEL_EXPORTER_OTLP_ENDPOINT.name: collector.url,
            # Batches every 0.2 s instead of 5 s: the test waits for the receipt's span.
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            config.LOG_FORMAT.name: "json",
        }
        var_dir = Path(tmp_path_factory.mktemp("traced"))
        with running_suite(environment, var_dir, settings) as suite:
            yield suite


@pytest.fixture
def traced_staff(traced_suite: Suite) -> Person:
    return traced_suite.sign_in(STAFF_EMAIL)


SERVER = SpanProto.SPAN_KIND_SERVER


def test_a_payment_is_one_trace_from_the_gateway_to_the_receipt(
    traced_suite: Suite, traced_staff: Person, collector: Collector
) -> None:
    billed = billed_organization(traced_suite, traced_staff)
    started(pay_by_token(traced_suite, billed.token, method="ecocash", phone=PAID_SOON))
    wait_for_money(traced_suite, billed, ("PAID", billed.total, 0, 0))

    # Paynow's status post enters at the gateway; the receipt is the trace's last span.
    # Each process exports its spans in batches of its own: the trace is whole once every
    # span but the root has its parent there.
    def receipt_trace() -> list[Span] | None:
        for receipt in collector.named("notifications.send_receipt_email"):
            trace = collector.trace(receipt.trace_id)
            span_ids = {span.span_id for span in trace}
            orphans = [span for span in trace if span.parent_id not in span_ids]
            if any(span.name == "POST /webhooks/paynow" for span in trace) and len(orphans) == 1:
                return trace
        return None

    trace = wait_until(receipt_trace, 30, "the status post's whole trace, down to the receipt")

    by_id = {span.span_id: span for span in trace}
    [root] = [span for span in trace if span.parent_id not in by_id]
    assert (root.service, root.name, root.kind) == ("gateway", "POST /webhooks/paynow", SERVER)
    assert {"gateway", "payments", "billing", "notifications"} <= {s.service for s in trace}

    def path_to_root(span: Span) -> list[str]:
        path = [f"{span.service}:{span.name}"]
        while span.parent_id in by_id:
            span = by_id[span.parent_id]
            path.append(f"{span.service}:{span.name}")
        return path[::-1]

    [receipt] = [span for span in trace if span.name == "notifications.send_receipt_email"]
    assert path_to_root(receipt) == [
        "gateway:POST /webhooks/paynow",
        "gateway:payments.receive_status_post",  # the gateway's RPC call
        "payments:payments.receive_status_post",  # confirms by polling, emits payment.paid
        "billing:billing.settle_paid_payment",  # emits payment.applied
        "notifications:notifications.send_receipt_email",
    ]

    # The receipt's log line says which trace, request and entrypoint it belongs to.
    records = [
        json.loads(line)
        for line in traced_suite.log_text("notifications").splitlines()
        if line.startswith("{")
    ]
    [sent] = [
        r
        for r in records
        if r.get("trace_id") == receipt.trace_id and r["message"].startswith("sent ")
    ]
    assert (sent["level"], sent["service"], sent["entrypoint"]) == (
        "INFO",
        "notifications",
        "notifications.send_receipt_email",
    )
    assert sent["actor_type"] == "system" and sent["request_id"]

    # The checkout itself is a trace too: the gateway's request, its call to payments, and
    # payments' call to billing for the payment link.
    [checkout] = collector.named("POST /v1/pay/<token>/payments")
    names = {f"{s.service}:{s.name}" for s in collector.trace(checkout.trace_id)}
    assert {
        "gateway:payments.start_checkout_by_token",
        "payments:payments.start_checkout_by_token",
        "billing:billing.invoice_for_payment_link",
    } <= names, names
