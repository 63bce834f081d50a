"""Databases from the outside: create them, migrate them, and open a unit of work on one
for admin commands (seeding, backfills) without a running service."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, pool, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from shared import config, migrations
from shared.db import make_engine
from shared.unit_of_work import UnitOfWork


def create_databases() -> list[str]:
    """Create every database the services' URLs name, if missing; returns those created."""
    created = []
    for url in sorted({make_url(config.database_url(s)) for s in config.SERVICES}, key=str):
        server = create_engine(
            url.set(database="postgres"), poolclass=pool.NullPool, isolation_level="AUTOCOMMIT"
        )
        with server.connect() as conn:
            exists = conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
            )
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{url.database}"'))
                created.append(url.database)
        server.dispose()
    return created


def migrate_all() -> None:
    for service in config.SERVICES:
        migrations.upgrade(service)


@contextmanager
def unit_of_work(service: str) -> Iterator[UnitOfWork]:
    """Events emitted here wait in the outbox until the running service relays them."""
    tables = importlib.import_module(f"services.{service}.models").tables
    engine = make_engine(config.database_url(service), poolclass=pool.NullPool)
    try:
        with UnitOfWork(sessionmaker(engine, expire_on_commit=False), tables) as uow:
            yield uow
    finally:
        engine.dispose()


def outbox_events(service: str, field: str, value: str) -> list[tuple[str, dict[str, Any]]]:
    """(event type, payload) of every event the service emitted whose payload's `field` is
    `value`, oldest first: what happened to one payment, ticket, invoice."""
    with unit_of_work(service) as uow:
        outbox = uow.tables.outbox_message
        rows = uow.session.execute(
            select(outbox.event_type, outbox.payload)
            .where(outbox.payload[field].as_string() == value)
            .order_by(outbox.created_at, outbox.id)
        ).all()
    return [(event_type, payload) for event_type, payload in rows]
