"""departed_organizations: whom a deleted organization's final billing mail goes to

Revision ID: d3a7c0000001
Revises: 5d7e0a1b2c3d
Create Date: 2026-11-26 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "d3a7c0000001"
down_revision: str | None = "5d7e0a1b2c3d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "departed_organizations",
        sa.Column("organization_id", sa.String(length=25), nullable=False),
        sa.Column("billing_contacts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_departed_organizations")),
        schema="identity",
    )


def downgrade() -> None:
    op.drop_table("departed_organizations", schema="identity")
