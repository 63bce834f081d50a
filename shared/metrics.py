"""Prometheus metrics of one process, with the official client, served on `METRICS_PORT`.

Every process of the suite (each service and the gateway) counts its own:

- entrypoint calls by service, entrypoint and outcome (`ok`; `refused`: a `DomainError`,
  the caller's mistake; `error`: anything else), their latency, and unexpected errors by
  exception class — recorded by `shared.dependencies.Telemetry` around every worker;
- the gateway's answers by HTTP status, including those no worker saw (404, 413);
- failed messages retried and parked as dead letters (`shared.entrypoints`);
- on each scrape, the service's outbox backlog and parked messages, read from the
  database and the broker (`watch_service`);
- business counters: events committed to the outbox by type, invoices issued and payments
  by status and method (derived from the events, `count_committed`), usage events
  ingested or ignored as duplicates (metering).

Counters are per process (prometheus_client's are thread-safe, so every greenthread of a
process shares them); Prometheus sums the processes of a service.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from shared import config

log = logging.getLogger(__name__)

OK = "ok"
REFUSED = "refused"
ERROR = "error"

ENTRYPOINT_CALLS = Counter(
    "cvt_entrypoint_calls",
    "Entrypoint calls (RPC, HTTP route, event handler, queue consumer, timer) by outcome",
    ["service", "entrypoint", "outcome"],
)
ENTRYPOINT_SECONDS = Histogram(
    "cvt_entrypoint_duration_seconds",
    "Time an entrypoint's worker took, from setup to result",
    ["service", "entrypoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0),
)
ENTRYPOINT_ERRORS = Counter(
    "cvt_entrypoint_errors",
    "Entrypoint calls that failed unexpectedly (not a DomainError), by exception class",
    ["service", "entrypoint", "error"],
)
HTTP_RESPONSES = Counter("cvt_http_responses", "Answers of the gateway by HTTP status", ["status"])
MESSAGES_RETRIED = Counter(
    "cvt_messages_retried",
    "Failed messages set aside in a retry queue",
    ["service", "queue"],
)
MESSAGES_PARKED = Counter(
    "cvt_messages_parked",
    "Failed messages parked in the service's dead-letter queue",
    ["service", "queue"],
)
EVENTS_COMMITTED = Counter(
    "cvt_events_committed",
    "Events committed to the outbox (published at once or by the relay), by type",
    ["service", "event_type"],
)
INVOICES_ISSUED = Counter("cvt_invoices_issued", "Invoices finalized and issued")
PAYMENTS = Counter(
    "cvt_payments",
    "Payments that reached a settled status (PAID, FAILED, CANCELLED, DISPUTED, REFUNDED)",
    ["status", "method"],
)
USAGE_EVENTS = Counter(
    "cvt_usage_events",
    "Terminal usage events metering stored (ingested) or ignored (duplicate)",
    ["outcome"],
)


class EntrypointSeries:
    """One entrypoint's series, looked up once: `labels()` costs several times what a
    count does, and the gateway counts on every request."""

    def __init__(self, service: str, entrypoint: str) -> None:
        self.calls = {
            outcome: ENTRYPOINT_CALLS.labels(service, entrypoint, outcome)
            for outcome in (OK, REFUSED, ERROR)
        }
        self.seconds = ENTRYPOINT_SECONDS.labels(service, entrypoint)


_entrypoint_series: dict[tuple[str, str], EntrypointSeries] = {}
_http_responses: dict[int, Any] = {}


def entrypoint_series(service: str, entrypoint: str) -> EntrypointSeries:
    series = _entrypoint_series.get((service, entrypoint))
    if series is None:
        series = _entrypoint_series[(service, entrypoint)] = EntrypointSeries(service, entrypoint)
    return series


def count_http_response(status: int) -> None:
    counter = _http_responses.get(status)
    if counter is None:
        counter = _http_responses[status] = HTTP_RESPONSES.labels(status)
    counter.inc()


def counting_statuses(app: Callable[..., Any]) -> Callable[..., Any]:
    """WSGI middleware: counts every answer of `app` by its status."""

    def counted(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def start(status: str, headers: list[Any], exc_info: Any = None) -> Any:
            count_http_response(int(status[:3]))
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return counted


# The events behind the business counters, as (source, event type); a test checks that
# each still has a contract (shared.event_catalogue), so a renamed event fails there.
INVOICE_ISSUED = ("billing", "invoice.issued")
PAYMENT_STATUS_OF_EVENT = {
    ("payments", "payment.paid"): "PAID",
    # payment.failed carries its own status (FAILED, CANCELLED, EXPIRED...).
    ("payments", "payment.failed"): None,
    ("payments", "payment.disputed"): "DISPUTED",
    ("payments", "payment.refunded"): "REFUNDED",
}


def count_committed(events: Iterable[Any]) -> None:
    """After a unit of work committed: its events, and the business counters they move."""
    for event in events:
        route = (event.source, event.event_type)
        EVENTS_COMMITTED.labels(*route).inc()
        if route == INVOICE_ISSUED:
            INVOICES_ISSUED.inc()
        elif route in PAYMENT_STATUS_OF_EVENT:
            status = PAYMENT_STATUS_OF_EVENT[route] or event.status
            PAYMENTS.labels(status, event.method).inc()


def count_usage(ingested: int, duplicates: int) -> None:
    USAGE_EVENTS.labels("ingested").inc(ingested)
    USAGE_EVENTS.labels("duplicate").inc(duplicates)


class ServiceState:
    """How to read, at scrape time, what a service has waiting: its outbox backlog as
    (unpublished rows, age in seconds of the oldest or None), and its parked messages."""

    def __init__(
        self,
        outbox_backlog: Callable[[], tuple[int, float | None]],
        parked_messages: Callable[[], int],
    ) -> None:
        self.outbox_backlog = outbox_backlog
        self.parked_messages = parked_messages


_watched: dict[str, ServiceState] = {}


def watch_service(service: str, state: ServiceState) -> None:
    _watched[service] = state


def unwatch_service(service: str) -> None:
    _watched.pop(service, None)


class _ServiceStateCollector(Collector):
    """Reads each watched service's state when Prometheus scrapes, not on a timer: the
    queries cost nothing while nobody looks. A source that fails (database or broker
    away) leaves its samples out of that scrape, with a log line."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        backlog = GaugeMetricFamily(
            "cvt_outbox_unpublished",
            "Outbox rows not yet confirmed by the broker",
            labels=["service"],
        )
        oldest = GaugeMetricFamily(
            "cvt_outbox_oldest_unpublished_seconds",
            "Age of the oldest unpublished outbox row (0 when none)",
            labels=["service"],
        )
        parked = GaugeMetricFamily(
            "cvt_dead_letters",
            "Messages parked in the service's dead-letter queue now",
            labels=["service"],
        )
        for service, state in list(_watched.items()):
            try:
                count, age = state.outbox_backlog()
                backlog.add_metric([service], count)
                oldest.add_metric([service], age or 0.0)
            except Exception as exc:
                log.warning("metrics: cannot read %s's outbox: %s", service, exc)
            try:
                parked.add_metric([service], state.parked_messages())
            except Exception as exc:
                log.warning("metrics: cannot count %s's dead letters: %s", service, exc)
        yield from (backlog, oldest, parked)

    def describe(self) -> list[GaugeMetricFamily]:
        # Registering must not run the queries (the registry calls collect() otherwise).
        return []


REGISTRY.register(_ServiceStateCollector())


def serve(component: str) -> int | None:
    """Serve /metrics on METRICS_PORT (all interfaces: Prometheus scrapes from elsewhere);
    0 turns it off. Returns the port, or None when off or the port is taken: a process
    without metrics is better than no process, so that is logged, not raised."""
    port = int(config.METRICS_PORT.get())
    if port == 0:
        return None
    try:
        server, _ = start_http_server(port)
    except OSError as exc:
        log.error("%s: metrics not served, port %d: %s", component, port, exc)
        return None
    log.info("metrics on port %d (/metrics)", server.server_port)
    return server.server_port
