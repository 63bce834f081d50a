"""payments on account

A payment without an invoice (on account) is counted once like any other: its
applied_payments row has no invoice.

Revision ID: 4b7d1f76e4ae
Revises: ba53ea674922
Create Date: 2026-11-26 08:33:57.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4b7d1f76e4ae"
down_revision: str | None = "ba53ea674922"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column(
        "applied_payments",
        "invoice_id",
        existing_type=sa.String(length=25),
        nullable=True,
        schema="billing",
    )


def downgrade() -> None:
    # Fails while payments on account are recorded: their rows are the proof that each
    # was counted once, so they are not deleted to make the downgrade pass.
    op.alter_column(
        "applied_payments",
        "invoice_id",
        existing_type=sa.String(length=25),
        nullable=False,
        schema="billing",
    )
