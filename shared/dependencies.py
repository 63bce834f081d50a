"""Nameko DependencyProviders shared by every service. Kept thin on purpose: the domain
code below them only sees a `UnitOfWork` and a `CallContext`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import eventlet
from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko.messaging import Consumer
from nameko.timer import Timer
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from shared import config, context, migrations
from shared.db import StandardTables, make_engine
from shared.outbox import OutboxRelay
from shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


def _replace_context_data(worker_ctx: Any, ctx: context.CallContext) -> None:
    for key in list(worker_ctx.data):
        if key != "call_id_stack":
            del worker_ctx.data[key]
    worker_ctx.data.update(ctx.to_context_data())


class CallContextProvider(DependencyProvider):
    """Binds the caller's context (request id, actor) to the worker's greenthread, so log
    lines and audit rows carry it. Work nobody asked for over RPC or HTTP (events, queue
    messages, timers) runs as SYSTEM, also in the RPC calls it makes (nameko forwards
    `worker_ctx.data`); the request id still ties it to the request that caused it."""

    def worker_setup(self, worker_ctx: Any) -> None:
        ctx = context.CallContext.from_context_data(worker_ctx.data)
        if isinstance(worker_ctx.entrypoint, EventHandler | Consumer | Timer):
            ctx = context.CallContext(request_id=ctx.request_id, actor_type=context.SYSTEM)
            _replace_context_data(worker_ctx, ctx)
        context.bind(ctx)

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
        _replace_context_data(self._worker_ctx, system)
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

    def stop(self) -> None:
        if self._relay_thread is not None:
            self._relay_thread.kill()
        self.engine.dispose()

    def get_dependency(self, worker_ctx: Any) -> Store:
        return Store(self)
