"""billing runs as jobs: a run per period and one work item per billing account

Revision ID: b13a00000001
Revises: b3f1d2e40c7a
Create Date: 2026-11-26 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b13a00000001"
down_revision: str | None = "b3f1d2e40c7a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "billing"


def _now() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "billing_runs",
        sa.Column("id", sa.String(length=25), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "QUEUED",
                "RUNNING",
                "COMPLETED",
                "FAILED",
                name="BillingRunStatus",
                schema=SCHEMA,
                inherit_schema=True,
            ),
            server_default="QUEUED",
            nullable=False,
        ),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("invoiced", sa.Integer(), server_default="0", nullable=False),
        sa.Column("started_by", sa.String(length=25), nullable=True),
        _now(),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_runs")),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_billing_runs_active_period",
        "billing_runs",
        ["period"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("status IN ('QUEUED', 'RUNNING')"),
    )
    op.create_index("ix_billing_runs_created", "billing_runs", ["created_at", "id"], schema=SCHEMA)
    op.create_table(
        "billing_run_items",
        sa.Column("run_id", sa.String(length=25), nullable=False),
        sa.Column("billing_account_id", sa.String(length=25), nullable=False),
        sa.Column("organization_id", sa.String(length=25), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "DONE",
                "FAILED",
                name="BillingRunItemStatus",
                schema=SCHEMA,
                inherit_schema=True,
            ),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column("result", sa.String(length=32), nullable=True),
        sa.Column("invoice_number", sa.String(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["billing.billing_runs.id"],
            name=op.f("fk_billing_run_items_run_id_billing_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "billing_account_id", name=op.f("pk_billing_run_items")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_billing_run_items_pending",
        "billing_run_items",
        ["run_id", "billing_account_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'PENDING'"),
    )


def downgrade() -> None:
    op.drop_index("ix_billing_run_items_pending", table_name="billing_run_items", schema=SCHEMA)
    op.drop_table("billing_run_items", schema=SCHEMA)
    op.drop_index("ix_billing_runs_created", table_name="billing_runs", schema=SCHEMA)
    op.drop_index("uq_billing_runs_active_period", table_name="billing_runs", schema=SCHEMA)
    op.drop_table("billing_runs", schema=SCHEMA)
    op.execute('DROP TYPE billing."BillingRunItemStatus"')
    op.execute('DROP TYPE billing."BillingRunStatus"')
