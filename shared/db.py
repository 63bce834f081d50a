"""SQLAlchemy 2.0 building blocks every service's `models.py` uses.

Each service declares `class Base(DeclarativeBase)` with `metadata = service_metadata(name)`
so all its tables live in a PostgreSQL schema of its own, and `standard_tables(Base)` for
the tables every service has: AuditLog, SystemSetting and the event outbox.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Index,
    MetaData,
    String,
    create_engine,
    func,
    text,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from shared.clock import utcnow
from shared.ids import cuid

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TYPE_ANNOTATION_MAP: dict[Any, Any] = {
    datetime: DateTime(timezone=True),
    dict[str, Any]: JSON().with_variant(JSONB(), "postgresql"),
}

CUID_LENGTH = 25

# How a database that is down, restarting or refusing connections fails (SQLAlchemy's names
# for psycopg2's errors), as the error's type reaches an RPC caller: trying again later may
# succeed, so callers answer 503, not 500.
UNAVAILABLE_ERRORS = frozenset({"OperationalError", "InterfaceError"})


def database_unavailable(exc_type: str) -> bool:
    return exc_type in UNAVAILABLE_ERRORS


def make_engine(url: str, **options: Any) -> Engine:
    """Every connection speaks UTC, so date_trunc, date() and returned timestamps never
    depend on a server's or a user's TimeZone setting."""
    return create_engine(url, connect_args={"options": "-c timezone=UTC"}, **options)


def service_metadata(schema: str) -> MetaData:
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def enum_type(enum_cls: type[enum.Enum]) -> SAEnum:
    """A native PostgreSQL enum named as in the seed (e.g. "MemberRole"), in the table's schema."""
    return SAEnum(
        enum_cls,
        name=enum_cls.__name__,
        inherit_schema=True,
        values_callable=lambda members: [member.value for member in members],
    )


def id_column() -> Mapped[str]:
    return mapped_column(String(CUID_LENGTH), primary_key=True, default=cuid)


def defaults_to_now(*, index: bool = False) -> Mapped[datetime]:
    return mapped_column(default=utcnow, server_default=func.now(), index=index)


def updated_at_column() -> Mapped[datetime]:
    return mapped_column(default=utcnow, onupdate=utcnow, server_default=func.now())


class AuditLogColumns:
    """The seed's AuditLog, plus the request id that ties a row to its request's log lines,
    the organization it concerns (its trail is theirs to read), and its place in the
    service's hash chain (`shared.audit`)."""

    id: Mapped[str] = id_column()
    actor_id: Mapped[str | None] = mapped_column(String(64), index=True)
    actor_type: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(128), index=True)
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    # `metadata` is reserved by declarative classes; the column keeps the seed's name.
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata")
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    request_id: Mapped[str | None] = mapped_column(String(64))
    timestamp: Mapped[datetime] = defaults_to_now(index=True)
    organization_id: Mapped[str | None] = mapped_column(String(CUID_LENGTH), index=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (Index(f"ix_{cls.__tablename__}_entity", "entity_type", "entity_id"),)


class SystemSettingColumns:
    id: Mapped[str] = id_column()
    key: Mapped[str] = mapped_column(String(128), unique=True, index=True)
    value: Mapped[str]
    updated_at: Mapped[datetime] = updated_at_column()


class OutboxMessageColumns:
    """An event written in the same transaction as the change it announces.

    The relay publishes it after commit and stamps `published_at`; a crash in between
    leaves it unpublished, and the relay sends it on its next pass (at least once).
    """

    id: Mapped[str] = id_column()
    event_type: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]]
    headers: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = defaults_to_now()
    published_at: Mapped[datetime | None]

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            Index(
                f"ix_{cls.__tablename__}_unpublished",
                "created_at",
                postgresql_where=text("published_at IS NULL"),
            ),
        )


@dataclass(frozen=True)
class StandardTables:
    audit_log: type[Any]
    system_setting: type[Any]
    outbox_message: type[Any]


def standard_tables(base: type[DeclarativeBase]) -> StandardTables:
    def declare(name: str, columns: type, table: str) -> type[Any]:
        return type(name, (columns, base), {"__tablename__": table})

    return StandardTables(
        audit_log=declare("AuditLog", AuditLogColumns, "audit_logs"),
        system_setting=declare("SystemSetting", SystemSettingColumns, "system_settings"),
        outbox_message=declare("OutboxMessage", OutboxMessageColumns, "outbox_messages"),
    )
