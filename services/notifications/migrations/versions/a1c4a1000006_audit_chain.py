"""audit chain

Audit rows name their organization and form a hash chain (`shared.audit`): each row has its
place `seq`, the previous row's hash and its own. Rows written before are chained here in
(timestamp, id) order, with the same hash function the services write with, so
`python -m ops audit verify` covers them too.

Revision ID: a1c4a1000006
Revises: 02f3f09d5c9c
Create Date: 2026-11-27 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

from shared.audit_migration import add_audit_chain, drop_audit_chain

revision: str = "a1c4a1000006"
down_revision: str | None = "02f3f09d5c9c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "notifications"


def upgrade() -> None:
    add_audit_chain(op, SCHEMA)


def downgrade() -> None:
    drop_audit_chain(op, SCHEMA)
