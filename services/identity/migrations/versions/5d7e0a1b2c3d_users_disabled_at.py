"""users.disabled_at: staff disable and enable people

Revision ID: 5d7e0a1b2c3d
Revises: a1c4a1000001
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d7e0a1b2c3d"
down_revision: str | None = "a1c4a1000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        schema="identity",
    )


def downgrade() -> None:
    op.drop_column("users", "disabled_at", schema="identity")
