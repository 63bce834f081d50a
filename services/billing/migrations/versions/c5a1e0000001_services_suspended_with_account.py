"""services: suspended_with_account, so settling an account reactivates only the services
its suspension suspended

Revision ID: c5a1e0000001
Revises: b13a00000001
Create Date: 2026-11-26 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c5a1e0000001"
down_revision: str | None = "b13a00000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "billing"


def upgrade() -> None:
    op.add_column(
        "services",
        sa.Column("suspended_with_account", sa.Boolean(), server_default="false", nullable=False),
        schema=SCHEMA,
    )
    # Before this column every suspended service of a suspended account came back with
    # it; those keep doing so. Other suspended services were suspended by staff.
    op.execute(
        "UPDATE billing.services AS s SET suspended_with_account = true "
        "FROM billing.billing_accounts AS a "
        "WHERE a.organization_id = s.organization_id AND a.status = 'SUSPENDED' "
        "AND s.status = 'SUSPENDED'"
    )


def downgrade() -> None:
    op.drop_column("services", "suspended_with_account", schema=SCHEMA)
