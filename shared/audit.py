"""The audit trail: each service's hash chain, its verification, and the trail query.

Every audit row carries its place in its service's chain (`seq`, 1, 2, 3, ...), the hash
of the row before it (`prev_hash`; the first row's is `GENESIS`) and its own `row_hash`:
SHA-256 over a canonical JSON of the row (`HASHED_FIELDS`). Changing a row breaks its
hash, removing one breaks the next row's `prev_hash` (and leaves a gap in `seq`), and a
row inserted by hand has no hash that fits. The chain is not keyed: it shows edits made
with SQL, not a rewrite by someone who recomputes every hash after the change.

One definition serves the unit of work that writes rows, the migrations that chained the
rows written before, the `audit_trail` RPC and `python -m ops audit verify`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import Connection, Select, select, text
from sqlalchemy.orm import Session

from shared import context
from shared.authorization import VIEW_AUDIT, check_access, require_actor
from shared.errors import ValidationFailed
from shared.pagination import PageSchema, paginate
from shared.schemas import BoundedDateTime, PageQuerySchema, load

GENESIS = "0" * 64
# What a row's hash covers, by column name (the model maps `metadata` as `metadata_`).
HASHED_FIELDS = (
    "seq",
    "prev_hash",
    "id",
    "timestamp",
    "actor_id",
    "actor_type",
    "action",
    "entity_type",
    "entity_id",
    "organization_id",
    "metadata",
    "ip_address",
    "user_agent",
    "request_id",
)
# The chain rows are read in batches this big (a service's whole trail can be long).
BATCH = 1000


# --- hashing ---------------------------------------------------------------------------


def normalized(value: Any) -> Any:
    """`value` as it reads back from a JSONB column: JSON types only, a whole float as an
    integer (JSONB keeps `1e20` as a number that comes back as an int), tuples as lists."""
    if isinstance(value, Mapping):
        return {str(key): normalized(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [normalized(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _moment(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("an audit timestamp must be timezone-aware")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(row: Mapping[str, Any]) -> bytes:
    """The bytes a row's hash is taken over: its `HASHED_FIELDS`, keys sorted, no spaces."""
    document = {name: row.get(name) for name in HASHED_FIELDS}
    document["timestamp"] = _moment(document["timestamp"])
    document["metadata"] = normalized(document["metadata"])
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def row_hash(row: Mapping[str, Any]) -> str:
    """The hex SHA-256 a row with these column values (its `seq` and `prev_hash` included)
    must carry."""
    return hashlib.sha256(canonical(row)).hexdigest()


def columns_of(entry: Any) -> dict[str, Any]:
    """An AuditLog instance's hashed columns, by column name."""
    return {
        name: getattr(entry, "metadata_" if name == "metadata" else name) for name in HASHED_FIELDS
    }


# --- writing -----------------------------------------------------------------------------


def chain_lock_key(schema: str) -> int:
    """The advisory-lock key of `schema`'s chain: a signed 64-bit number of its own, so
    services sharing one database never wait for each other."""
    digest = hashlib.sha256(f"cvt-audit-chain:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def append(session: Session, model: type[Any], entries: Sequence[Any]) -> None:
    """Give `entries` (new AuditLog instances) the next places in the chain and add them.

    The caller flushes its other changes first: from the lock to the commit this
    transaction then needs no row lock, so it cannot deadlock with a transaction that
    holds one and waits for the chain. The lock ends with the transaction, so the next
    writer reads this one's tail only once it is committed (READ COMMITTED).
    """
    schema = model.__table__.schema
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": chain_lock_key(schema)})
    tail = session.execute(
        select(model.seq, model.row_hash).order_by(model.seq.desc()).limit(1)
    ).first()
    seq, prev = (tail.seq, tail.row_hash) if tail is not None else (0, GENESIS)
    for entry in entries:
        seq += 1
        entry.seq = seq
        entry.prev_hash = prev
        entry.row_hash = prev = row_hash(columns_of(entry))
    session.add_all(entries)


def chain_existing_rows(bind: Connection, schema: str) -> int:
    """Chain the rows written before the chain existed, in (timestamp, id) order; for the
    migration that adds the columns. Rows whose organization is plain from the row itself
    (the organization is the entity, or the metadata names it) get it first, so an
    organization's trail shows them. Returns how many rows were chained."""
    table = f'"{schema}".audit_logs'
    bind.execute(
        text(
            f"UPDATE {table} SET organization_id = CASE"
            "  WHEN entity_type = 'Organization' THEN left(entity_id, 25)"
            "  ELSE left(metadata ->> 'organization_id', 25) END"
            " WHERE organization_id IS NULL"
        )
    )
    columns = ", ".join(f'"{name}"' for name in HASHED_FIELDS if name not in ("seq", "prev_hash"))
    rows = bind.execute(text(f"SELECT {columns} FROM {table} ORDER BY timestamp, id")).mappings()
    update = text(
        f"UPDATE {table} SET seq = :seq, prev_hash = :prev_hash, row_hash = :row_hash"
        " WHERE id = :id"
    )
    seq, prev, pending = 0, GENESIS, []
    for row in rows.all():
        seq += 1
        chained = {**row, "seq": seq, "prev_hash": prev}
        prev = row_hash(chained)
        pending.append({"id": row["id"], "seq": seq, "prev_hash": chained["prev_hash"],
                        "row_hash": prev})  # fmt: skip
        if len(pending) >= BATCH:
            bind.execute(update, pending)
            pending = []
    if pending:
        bind.execute(update, pending)
    return seq


# --- verification ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    """What walking one chain found: `first_bad_seq` and `problem` are None when every
    row is in place."""

    rows: int
    verified: int
    first_bad_seq: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


def verify(rows: Iterable[Mapping[str, Any]]) -> ChainReport:
    """Walk a chain's rows (every hashed column, in `seq` order) and report the first one
    out of place: a changed row, a gap (rows removed), or a row that does not follow the
    one before it (removed or inserted)."""
    expected_seq, prev, count, verified = 1, GENESIS, 0, 0
    found: tuple[int, str] | None = None
    for row in rows:
        count += 1
        if found is not None:
            continue
        seq = row["seq"]
        if seq != expected_seq:
            missing = "row 1" if expected_seq == 1 else f"rows after seq {expected_seq - 1}"
            found = (seq, f"{missing} missing: seq {expected_seq} expected (removed?)")
        elif row["prev_hash"] != prev:
            found = (seq, "prev_hash is not the previous row's hash (row removed or inserted)")
        elif row_hash(row) != row["row_hash"]:
            found = (seq, "row_hash does not match the row (row changed)")
        else:
            verified += 1
            expected_seq, prev = seq + 1, row["row_hash"]
    if found is None:
        return ChainReport(rows=count, verified=verified)
    return ChainReport(rows=count, verified=verified, first_bad_seq=found[0], problem=found[1])


def verify_schema(bind: Connection, schema: str) -> ChainReport:
    """Verify `schema`'s chain as the database holds it now (read in batches)."""
    columns = ", ".join(f'"{name}"' for name in (*HASHED_FIELDS, "row_hash"))
    result = bind.execution_options(yield_per=BATCH).execute(
        text(f'SELECT {columns} FROM "{schema}".audit_logs ORDER BY seq')
    )
    return verify(result.mappings())


# --- the trail -----------------------------------------------------------------------------

_ID = validate.Length(min=1, max=64)


class AuditQuerySchema(PageQuerySchema):
    """`audit_trail`'s filters. Members must name their organization."""

    organization_id = fields.String(validate=validate.Length(min=1, max=25))
    actor_id = fields.String(validate=_ID)
    entity_type = fields.String(validate=_ID)
    entity_id = fields.String(validate=_ID)
    action = fields.String(validate=validate.Length(min=1, max=128))
    request_id = fields.String(validate=_ID)
    from_ = BoundedDateTime(
        data_key="from", metadata={"description": "Rows written at or after this moment"}
    )
    to = BoundedDateTime(metadata={"description": "Rows written before this moment"})


class AuditEntrySchema(Schema):
    """One audit row, as staff and an organization's OWNER/ADMIN read it."""

    id = fields.String(required=True)
    service = fields.String(required=True, metadata={"description": "Whose chain it is in"})
    seq = fields.Integer(required=True, metadata={"description": "Its place in that chain"})
    timestamp = fields.AwareDateTime(required=True)
    actor_id = fields.String(required=True, allow_none=True)
    actor_type = fields.String(required=True)
    organization_id = fields.String(required=True, allow_none=True)
    action = fields.String(required=True)
    entity_type = fields.String(required=True)
    entity_id = fields.String(required=True)
    metadata = fields.Dict(required=True, allow_none=True)
    request_id = fields.String(required=True, allow_none=True)
    ip_address = fields.String(required=True, allow_none=True)


class AuditPageSchema(PageSchema):
    items = fields.List(fields.Nested(AuditEntrySchema), required=True)


_entry = AuditEntrySchema()


def _readable_by(ctx: context.CallContext, organization_id: str | None) -> None:
    """Staff (and the suite) read every row; anyone else only their organization's rows,
    with VIEW_AUDIT, and must say which organization they read."""
    if ctx.actor_type == context.SYSTEM or (ctx.actor_type == context.USER and ctx.is_staff):
        return
    if organization_id is None:
        raise ValidationFailed(
            "name the organization whose trail you read", {"organization_id": ["required"]}
        )
    check_access(ctx, organization_id, VIEW_AUDIT)


def trail_statement(model: type[Any], query: Mapping[str, Any]) -> Select:
    """The rows `query` (a loaded AuditQuerySchema) asks for, newest first."""
    statement = select(model)
    for name in ("organization_id", "actor_id", "entity_type", "entity_id", "action",
                 "request_id"):  # fmt: skip
        if name in query:
            statement = statement.where(getattr(model, name) == query[name])
    if "from_" in query:
        statement = statement.where(model.timestamp >= query["from_"])
    if "to" in query:
        statement = statement.where(model.timestamp < query["to"])
    # seq, not the timestamp, breaks ties: it is the order the rows were committed in.
    return statement.order_by(model.timestamp.desc(), model.seq.desc())


def trail(session: Session, model: type[Any], service: str, data: Any) -> dict[str, Any]:
    """`audit_trail(query)` of every service: a page of its audit rows (AuditPageSchema)."""
    ctx = require_actor()
    query = load(AuditQuerySchema(), data if data is not None else {})
    _readable_by(ctx, query.get("organization_id"))

    def dump(row: Any) -> dict[str, Any]:
        return _entry.dump({**columns_of(row), "service": service})

    return paginate(session, trail_statement(model, query), query, dump)
