"""The audit hash chain (`shared.audit`): how the unit of work writes it, how the
migration chains older rows, what verification finds after a row is changed, removed or
inserted, and who reads the trail.

Each test gets a throwaway schema shaped like every service's audit table, so tampering
here never touches a service's chain."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import eventlet
import pytest
from sqlalchemy import Engine, pool, select, text
from sqlalchemy.orm import DeclarativeBase, sessionmaker

from shared import audit, config, context
from shared.authorization import MemberRole
from shared.db import TYPE_ANNOTATION_MAP, make_engine, service_metadata, standard_tables
from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.unit_of_work import UnitOfWork
from tests.harness import RunEnvironment

Acting = Callable[..., AbstractContextManager[Any]]


@dataclass
class Probe:
    schema: str
    engine: Engine
    model: Any
    transaction: Callable[[], UnitOfWork]

    def sql(self, statement: str, **params: Any) -> Any:
        with self.engine.begin() as conn:
            return conn.execute(text(statement.replace("{t}", f"{self.schema}.audit_logs")), params)

    def report(self) -> audit.ChainReport:
        with self.engine.connect() as conn:
            return audit.verify_schema(conn, self.schema)

    def rows(self) -> list[Any]:
        with self.transaction() as uow:
            return list(uow.session.scalars(select(self.model).order_by(self.model.seq)))

    def write(self, count: int, **fields: Any) -> None:
        for number in range(count):
            with self.transaction() as uow:
                uow.audit("thing.done", "Thing", f"thing-{number}", {"n": number}, **fields)


@pytest.fixture
def probe(test_environment: RunEnvironment) -> Iterator[Probe]:
    schema = f"audit_probe_{secrets.token_hex(4)}"

    class Base(DeclarativeBase):
        metadata = service_metadata(schema)
        type_annotation_map = TYPE_ANNOTATION_MAP

    tables = standard_tables(Base)
    engine = make_engine(config.database_url("support"), poolclass=pool.NullPool)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
        Base.metadata.create_all(conn)
    factory = sessionmaker(engine, expire_on_commit=False)
    try:
        yield Probe(schema, engine, tables.audit_log, lambda: UnitOfWork(factory, tables))
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


# --- the hash ------------------------------------------------------------------------------


def a_row(**changes: Any) -> dict[str, Any]:
    row = {
        "seq": 1,
        "prev_hash": audit.GENESIS,
        "id": "c" * 25,
        "timestamp": datetime(2026, 11, 27, 9, 30, 0, 123456, tzinfo=UTC),
        "actor_id": "user-1",
        "actor_type": "user",
        "action": "thing.done",
        "entity_type": "Thing",
        "entity_id": "thing-1",
        "organization_id": "o" * 25,
        "metadata": {"amount": 100, "nested": {"b": [1, 2], "a": "é"}},
        "ip_address": "10.0.0.1",
        "user_agent": "probe",
        "request_id": "req-1",
    }
    return row | changes


def test_the_hash_covers_every_field_and_nothing_else() -> None:
    original = audit.row_hash(a_row())
    assert len(original) == 64
    for name in audit.HASHED_FIELDS:
        changed = a_row(**{name: 2 if name == "seq" else None})
        if name == "timestamp":
            changed = a_row(timestamp=a_row()["timestamp"] + timedelta(microseconds=1))
        assert audit.row_hash(changed) != original, name
    assert audit.row_hash(a_row() | {"row_hash": "anything", "extra": 1}) == original


def test_the_hash_reads_values_as_the_database_returns_them() -> None:
    """JSONB keeps no key order and returns a whole number as an int; a moment is the
    same moment in any zone."""
    reordered = a_row(metadata={"nested": {"a": "é", "b": (1, 2)}, "amount": 100.0})
    elsewhere = a_row(timestamp=a_row()["timestamp"].astimezone(timezone(timedelta(hours=2))))
    assert audit.row_hash(reordered) == audit.row_hash(a_row())
    assert audit.row_hash(elsewhere) == audit.row_hash(a_row())
    with pytest.raises(ValueError, match="timezone-aware"):
        audit.row_hash(a_row(timestamp=datetime(2026, 11, 27, 9, 30)))


# --- writing the chain ---------------------------------------------------------------------


def test_each_row_follows_the_one_before(probe: Probe, as_user: Acting) -> None:
    with as_user("org-a", MemberRole.OWNER):
        with probe.transaction() as uow:
            uow.audit("thing.done", "Thing", "t1", {"price": 1.5})
            uow.audit("thing.done", "Thing", "t2", None, organization_id="org-b")
        with probe.transaction() as uow:
            uow.audit("thing.undone", "Thing", "t1")

    rows = probe.rows()
    assert [row.seq for row in rows] == [1, 2, 3]
    assert rows[0].prev_hash == audit.GENESIS
    assert [row.prev_hash for row in rows[1:]] == [row.row_hash for row in rows[:-1]]
    assert [row.organization_id for row in rows] == ["org-a", "org-b", "org-a"]
    assert all(audit.row_hash(audit.columns_of(row)) == row.row_hash for row in rows)
    assert probe.report() == audit.ChainReport(rows=3, verified=3)


def test_a_rolled_back_transaction_takes_no_place_in_the_chain(probe: Probe) -> None:
    probe.write(1)
    with pytest.raises(RuntimeError), probe.transaction() as uow:
        uow.audit("thing.done", "Thing", "lost")
        raise RuntimeError("the change fails")
    probe.write(1)
    assert [row.seq for row in probe.rows()] == [1, 2]
    assert probe.report().intact


def test_writers_at_the_same_moment_keep_one_chain(probe: Probe) -> None:
    """Without the chain's lock, transactions committing together read the same tail and
    collide on `seq`."""

    def write(number: int) -> None:
        with probe.transaction() as uow:
            uow.audit("thing.done", "Thing", f"t{number}")
            eventlet.sleep(0)  # every transaction reaches its commit before any finishes

    pool_ = eventlet.GreenPool(8)
    list(pool_.imap(write, range(16)))
    assert [row.seq for row in probe.rows()] == list(range(1, 17))
    assert probe.report() == audit.ChainReport(rows=16, verified=16)


# --- the migration's chaining of older rows --------------------------------------------------


def test_rows_written_before_the_chain_are_chained_in_time_order(probe: Probe) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    older = [
        # (id, minutes after start, entity_type, entity_id, metadata)
        ("row-c", 5, "Organization", "org-x", None),
        ("row-a", 1, "Invoice", "inv-1", {"organization_id": "org-y"}),
        ("row-b", 5, "Invoice", "inv-2", {"amount": 3}),
    ]
    for position, (row_id, minutes, entity_type, entity_id, metadata) in enumerate(older):
        probe.sql(
            "INSERT INTO {t} (id, actor_type, action, entity_type, entity_id, metadata,"
            " timestamp, seq, prev_hash, row_hash)"
            " VALUES (:id, 'system', 'old', :et, :eid, CAST(:m AS jsonb), :ts, :seq, '', '')",
            id=row_id,
            et=entity_type,
            eid=entity_id,
            m=None if metadata is None else json.dumps(metadata),
            ts=start + timedelta(minutes=minutes),
            seq=-1 - position,  # anything out of the way of 1..n
        )

    with probe.engine.begin() as conn:
        assert audit.chain_existing_rows(conn, probe.schema) == 3

    rows = probe.rows()
    assert [row.id for row in rows] == ["row-a", "row-b", "row-c"]  # timestamp, then id
    assert [row.organization_id for row in rows] == ["org-y", None, "org-x"]
    assert probe.report() == audit.ChainReport(rows=3, verified=3)
    probe.write(1)  # the unit of work carries on from the chained rows
    assert probe.report() == audit.ChainReport(rows=4, verified=4)


# --- verification ----------------------------------------------------------------------------


def test_a_changed_row_is_found(probe: Probe) -> None:
    probe.write(5)
    probe.sql("UPDATE {t} SET metadata = jsonb_set(metadata, '{n}', '99') WHERE seq = 3")
    assert probe.report() == audit.ChainReport(
        rows=5, verified=2, first_bad_seq=3, problem="row_hash does not match the row (row changed)"
    )


def test_a_removed_row_is_found(probe: Probe) -> None:
    probe.write(5)
    probe.sql("DELETE FROM {t} WHERE seq = 2")
    report = probe.report()
    assert (report.rows, report.verified, report.first_bad_seq) == (4, 1, 3)
    assert report.problem == "rows after seq 1 missing: seq 2 expected (removed?)"


def test_a_removed_first_row_is_found(probe: Probe) -> None:
    probe.write(2)
    probe.sql("DELETE FROM {t} WHERE seq = 1")
    assert probe.report().first_bad_seq == 2


def test_a_removed_row_renumbered_over_is_found(probe: Probe) -> None:
    """Closing the gap by renumbering still leaves a row whose prev_hash is wrong."""
    probe.write(4)
    probe.sql("DELETE FROM {t} WHERE seq = 2")
    probe.sql("UPDATE {t} SET seq = seq - 1 WHERE seq > 2")
    report = probe.report()
    assert report.first_bad_seq == 2
    assert report.problem is not None and "prev_hash" in report.problem


def test_an_inserted_row_is_found(probe: Probe) -> None:
    probe.write(3)
    last = probe.rows()[-1]
    probe.sql(
        "INSERT INTO {t} (id, actor_type, action, entity_type, entity_id, timestamp, seq,"
        " prev_hash, row_hash) VALUES ('forged', 'user', 'payment.refunded', 'Payment', 'p',"
        " now(), 4, :prev, :fake)",
        prev=last.row_hash,
        fake="f" * 64,
    )
    assert probe.report() == audit.ChainReport(
        rows=4, verified=3, first_bad_seq=4, problem="row_hash does not match the row (row changed)"
    )


def test_an_empty_chain_is_intact(probe: Probe) -> None:
    assert probe.report() == audit.ChainReport(rows=0, verified=0)


# --- the trail -----------------------------------------------------------------------------


def trail(probe: Probe, query: dict[str, Any] | None = None) -> dict[str, Any]:
    with probe.transaction() as uow:
        return audit.trail(uow.session, probe.model, "probe", query)


@pytest.fixture
def two_organizations(probe: Probe, as_user: Acting) -> Probe:
    with as_user("org-a", MemberRole.ADMIN, actor_id="alice"):
        probe.write(2)
    with as_user("org-b", MemberRole.OWNER, actor_id="bob"):
        probe.write(1)
    return probe


def test_staff_read_every_row_newest_first(two_organizations: Probe, as_user: Acting) -> None:
    with as_user(is_staff=True):
        page = trail(two_organizations, {"limit": 2})
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    assert [item["seq"] for item in page["items"]] == [3, 2]
    first = page["items"][0]
    assert first["service"] == "probe" and first["organization_id"] == "org-b"
    assert set(first) == set(audit.AuditEntrySchema().fields)


def test_owners_and_admins_read_their_organization_only(
    two_organizations: Probe, as_user: Acting
) -> None:
    with as_user("org-a", MemberRole.ADMIN):
        page = trail(two_organizations, {"organization_id": "org-a"})
        assert [item["actor_id"] for item in page["items"]] == ["alice", "alice"]
        with pytest.raises(NotFound):
            trail(two_organizations, {"organization_id": "org-b"})
        with pytest.raises(ValidationFailed) as refused:
            trail(two_organizations, {})
    assert "organization_id" in refused.value.fields
    for role in (MemberRole.MEMBER, MemberRole.BILLING):
        with as_user("org-a", role), pytest.raises(Forbidden):
            trail(two_organizations, {"organization_id": "org-a"})


def test_the_trail_filters(probe: Probe, as_user: Acting) -> None:
    with as_user("org-a", MemberRole.ADMIN, actor_id="alice"):
        probe.write(3)
    rows = probe.rows()
    with as_user(is_staff=True):
        by_entity = trail(probe, {"entity_type": "Thing", "entity_id": "thing-1"})
        by_actor = trail(probe, {"actor_id": "nobody"})
        since = trail(probe, {"from": rows[1].timestamp.isoformat()})
        until = trail(probe, {"to": rows[1].timestamp.isoformat(), "action": "thing.done"})
        with pytest.raises(ValidationFailed) as refused:
            trail(probe, {"colour": "red"})
    assert [item["id"] for item in by_entity["items"]] == [rows[1].id]
    assert by_actor["total"] == 0
    assert [item["seq"] for item in since["items"]] == [3, 2]
    assert [item["seq"] for item in until["items"]] == [1]
    assert "colour" in refused.value.fields


def test_the_trail_follows_a_request_id(probe: Probe) -> None:
    context.bind(context.CallContext(request_id="req-42"))
    probe.write(1)
    context.bind(context.CallContext(request_id="req-43"))
    probe.write(1)
    page = trail(probe, {"request_id": "req-42"})
    assert [(item["request_id"], item["seq"]) for item in page["items"]] == [("req-42", 1)]
