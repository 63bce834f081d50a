"""Nameko DependencyProviders shared by every service. Kept thin on purpose: the domain
code below them only sees a `UnitOfWork` and a `CallContext`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import eventlet
from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko.messaging import Consumer
from nameko.timer import Timer
from nameko.web.handlers import HttpRequestHandler
from opentelemetry.trace import SpanKind
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from shared import config, context, dead_letters, logs, metrics, migrations, tracing
from shared.db import StandardTables, make_engine
from shared.errors import DomainError, Unauthorized
from shared.outbox import OutboxRelay
from shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


def replace_context_data(worker_ctx: Any, ctx: context.CallContext) -> None:
    """Make `ctx` the worker's context data, whole: a key left over from the previous
    context would no longer match the signature. What travels beside the call context
    (nameko's call-id stack, the trace context) stays."""
    for key in list(worker_ctx.data):
        if key not in _BESIDE_THE_CALL_CONTEXT:
            del worker_ctx.data[key]
    worker_ctx.data.update(ctx.to_context_data())


_BESIDE_THE_CALL_CONTEXT = frozenset({"call_id_stack", *tracing.CARRIER_KEYS})


def _entrypoint_name(worker_ctx: Any) -> str:
    return f"{worker_ctx.service_name}.{worker_ctx.entrypoint.method_name}"


class Telemetry(DependencyProvider):
    """Around every worker: the entrypoint's metrics (calls by outcome, latency, errors),
    its span when tracing is on (child of the caller's, carried on in the worker's context
    data to the RPC calls it makes), and its name for log lines."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # worker context -> (when its setup ran, its span if traced)
        self._workers: dict[Any, tuple[float, tracing.Started | None]] = {}

    def worker_setup(self, worker_ctx: Any) -> None:
        name = _entrypoint_name(worker_ctx)
        logs.bind_entrypoint(name)
        traced = None
        if tracing.enabled():
            # An exception here would stop the whole container: a trace is not worth it.
            try:
                traced = self._start_span(worker_ctx, name)
            except Exception:
                log.warning("no span for %s", name, exc_info=True)
        self._workers[worker_ctx] = (time.perf_counter(), traced)

    @staticmethod
    def _start_span(worker_ctx: Any, name: str) -> tracing.Started | None:
        entrypoint = worker_ctx.entrypoint
        if isinstance(entrypoint, HttpRequestHandler):
            traced = tracing.start_span(
                f"{entrypoint.method} {entrypoint.url}",
                SpanKind.SERVER,
                worker_ctx.args[0].headers,
                {"http.request.method": entrypoint.method, "http.route": entrypoint.url},
                http_headers=True,
            )
        else:
            kind = SpanKind.CONSUMER if isinstance(entrypoint, Consumer) else SpanKind.SERVER
            traced = tracing.start_span(name, kind, worker_ctx.data)
        tracing.carry(worker_ctx.data)
        return traced

    def worker_result(self, worker_ctx: Any, result: Any = None, exc_info: Any = None) -> None:
        started, traced = self._workers.get(worker_ctx, (None, None))
        service, method = worker_ctx.service_name, worker_ctx.entrypoint.method_name
        exc = exc_info[1] if exc_info else None
        if exc is None:
            outcome = metrics.OK
        elif isinstance(exc, DomainError):
            outcome = metrics.REFUSED
        else:
            outcome = metrics.ERROR
            metrics.ENTRYPOINT_ERRORS.labels(service, method, type(exc).__name__).inc()
        series = metrics.entrypoint_series(service, method)
        series.calls[outcome].inc()
        if started is not None:
            series.seconds.observe(time.perf_counter() - started)
        if traced is not None and exc is not None:
            tracing.fail_span(traced, exc, expected=outcome == metrics.REFUSED)

    def worker_teardown(self, worker_ctx: Any) -> None:
        _, traced = self._workers.pop(worker_ctx, (None, None))
        if traced is not None:
            tracing.end_span(traced)
        logs.bind_entrypoint(None)


class CallContextProvider(DependencyProvider):
    """Binds the caller's context (request id, actor) to the worker's greenthread, so log
    lines and audit rows carry it, once its signature checks out (see `shared.context`).

    A call whose context the suite did not sign is refused with `Unauthorized`, logged and
    audited. Work nobody asked for over RPC or HTTP (events, queue messages, timers) runs
    as SYSTEM, also in the RPC calls it makes (nameko forwards `worker_ctx.data`); the
    request id, if signed, still ties it to the request that caused it."""

    def setup(self) -> None:
        # Without a key every call would be refused: better not to start at all.
        context.signing_keys()

    def worker_setup(self, worker_ctx: Any) -> None:
        if isinstance(worker_ctx.entrypoint, EventHandler | Consumer | Timer):
            ctx = context.CallContext(
                request_id=self._signed_request_id(worker_ctx), actor_type=context.SYSTEM
            )
            replace_context_data(worker_ctx, ctx)
            context.bind(ctx)
            return
        try:
            context.bind(context.CallContext.verified(worker_ctx.data))
        except context.UntrustedContext as untrusted:
            self._refuse(worker_ctx, untrusted)

    @staticmethod
    def _signed_request_id(worker_ctx: Any) -> str | None:
        """Messages from outside the suite's processes (and timers) carry no signature:
        they simply have no request id. A signature that does not match is worth a look."""
        if context.SIGNATURE not in worker_ctx.data:
            return None
        try:
            return context.CallContext.verified(worker_ctx.data).request_id
        except context.UntrustedContext as untrusted:
            log.warning(
                "%s: ignoring the message's call context: %s",
                _entrypoint_name(worker_ctx),
                untrusted.describe(),
            )
            return None

    def _refuse(self, worker_ctx: Any, untrusted: context.UntrustedContext) -> None:
        """Nameko cannot refuse a call from `worker_setup` (an exception there kills the
        container), and the method is looked up on the worker's own service instance only
        after it: so the instance gets a stand-in for the method that raises. The caller
        gets an `Unauthorized` like any other refusal, and nothing of the method runs."""
        anonymous = context.CallContext(actor_type=context.ANONYMOUS)
        replace_context_data(worker_ctx, anonymous)
        context.bind(anonymous)
        entrypoint = _entrypoint_name(worker_ctx)
        log.warning("refused %s: %s", entrypoint, untrusted.describe())
        self._audit_refusal(entrypoint, untrusted)

        def refuse(*args: Any, **kwargs: Any) -> None:
            raise Unauthorized(f"{untrusted.reason}: only the suite's own processes may call")

        setattr(worker_ctx.service, worker_ctx.entrypoint.method_name, refuse)

    def _audit_refusal(self, entrypoint: str, untrusted: context.UntrustedContext) -> None:
        """In a transaction of its own, since the call does nothing else. The gateway has
        no database: its log line is the record there."""
        database = next((d for d in self.container.dependencies if isinstance(d, Database)), None)
        if database is None:
            return
        try:
            with Store(database).transaction() as uow:
                uow.audit(
                    "call_context.refused",
                    "Entrypoint",
                    entrypoint,
                    {"reason": untrusted.reason, "claims": untrusted.claims},
                )
        except Exception:
            log.exception("could not audit the refused call to %s", entrypoint)

    def get_dependency(self, worker_ctx: Any) -> CallContextAccess:
        return CallContextAccess(worker_ctx)


class CallContextAccess:
    def __init__(self, worker_ctx: Any) -> None:
        self._worker_ctx = worker_ctx

    @contextmanager
    def as_system(self) -> Iterator[None]:
        """RPC calls made inside run as the suite itself: for internal operations a
        service performs on behalf of a caller it has already authorized."""
        saved = dict(self._worker_ctx.data)
        system = context.CallContext(
            request_id=context.current().request_id, actor_type=context.SYSTEM
        )
        replace_context_data(self._worker_ctx, system)
        try:
            yield
        finally:
            self._worker_ctx.data.clear()
            self._worker_ctx.data.update(saved)


def spawn_periodic(container: Any, interval: float, work: Callable[[], Any], what: str) -> Any:
    """Run `work` every `interval` seconds in a thread the container kills at stop; a
    failure is logged and the next pass tries again."""

    def loop() -> None:
        while True:
            try:
                work()
            except Exception:
                log.warning("%s failed; trying again in %g s", what, interval, exc_info=True)
            eventlet.sleep(interval)

    return container.spawn_managed_thread(loop)


class Store:
    """What a worker gets: transactions on the service's database."""

    def __init__(self, provider: Database) -> None:
        self._provider = provider

    def transaction(self) -> UnitOfWork:
        p = self._provider
        return UnitOfWork(p.session_factory, p.tables, after_commit=p.relay.publish_pending)

    def ping(self) -> None:
        with self._provider.engine.connect() as conn:
            conn.execute(text("SELECT 1"))


class Database(DependencyProvider):
    """The service's PostgreSQL schema: migrated at start, pooled engine, outbox relay.

    Greenthreads make psycopg2 cooperative because the launcher monkey-patches everything
    before anything is imported (see shared/launcher.py).
    """

    def __init__(self, service: str, tables: StandardTables, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service = service
        self.tables = tables
        self.engine: Engine
        self._relay_thread: Any = None

    def setup(self) -> None:
        url = config.database_url(self.service)
        if config.flag(config.MIGRATE_ON_START):
            migrations.upgrade(self.service, url)
        pool_size = int(config.DB_POOL_SIZE.get())
        # Workers beyond the pool wait for a connection: PostgreSQL's connection limit is
        # shared by every process of every service.
        self.engine = make_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=30, pool_pre_ping=True
        )
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        self.relay = OutboxRelay(
            self.service,
            str(self.container.config["AMQP_URI"]),
            self.session_factory,
            self.tables.outbox_message,
        )

    def start(self) -> None:
        # Broker or database away: rows stay unpublished and the next pass sends them.
        interval = float(config.OUTBOX_INTERVAL_SECONDS.get())
        self._relay_thread = spawn_periodic(
            self.container, interval, self.relay.drain, "outbox relay"
        )
        metrics.watch_service(
            self.service, metrics.ServiceState(self.relay.backlog, self._parked_messages)
        )

    def _parked_messages(self) -> int:
        amqp_uri = str(self.container.config["AMQP_URI"])
        return dead_letters.count(amqp_uri, (self.service,))[self.service]

    def stop(self) -> None:
        metrics.unwatch_service(self.service)
        if self._relay_thread is not None:
            self._relay_thread.kill()
        self.engine.dispose()

    def get_dependency(self, worker_ctx: Any) -> Store:
        return Store(self)
