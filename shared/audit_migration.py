"""The one migration step that puts a service's audit rows on a hash chain (every service's
`*_audit_chain` revision calls it with its own schema): the columns, the chaining of the
rows written before (`shared.audit.chain_existing_rows`, the same hash the services write
with), then the constraints."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from shared import audit

_CHAIN_COLUMNS = ("seq", "prev_hash", "row_hash")


def add_audit_chain(op: Any, schema: str) -> None:
    op.add_column(
        "audit_logs",
        sa.Column("organization_id", sa.String(length=25), nullable=True),
        schema=schema,
    )
    op.add_column("audit_logs", sa.Column("seq", sa.BigInteger(), nullable=True), schema=schema)
    for column in ("prev_hash", "row_hash"):
        op.add_column(
            "audit_logs", sa.Column(column, sa.String(length=64), nullable=True), schema=schema
        )
    audit.chain_existing_rows(op.get_bind(), schema)
    for column in _CHAIN_COLUMNS:
        op.alter_column("audit_logs", column, nullable=False, schema=schema)
    op.create_unique_constraint(op.f("uq_audit_logs_seq"), "audit_logs", ["seq"], schema=schema)
    op.create_index(
        op.f(f"ix_{schema}_audit_logs_organization_id"),
        "audit_logs",
        ["organization_id"],
        unique=False,
        schema=schema,
    )


def drop_audit_chain(op: Any, schema: str) -> None:
    op.drop_index(op.f(f"ix_{schema}_audit_logs_organization_id"), "audit_logs", schema=schema)
    op.drop_constraint(op.f("uq_audit_logs_seq"), "audit_logs", type_="unique", schema=schema)
    for column in ("row_hash", "prev_hash", "seq", "organization_id"):
        op.drop_column("audit_logs", column, schema=schema)
