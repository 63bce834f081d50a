"""back office: terms history, closed accounts, void time, credits tied to payments

- service_terms: the terms a change replaced, billing the periods before it takes effect.
- billing_accounts.closed_at: the organization was deleted; the account is never
  invoiced, credited or opened again.
- invoices.voided_at: when an invoice was voided (the ledger's void line). Voids made
  before are dated by their audit row, else by the invoice's last update.
- credits.payment_id: the payment a credit came from (on account, over-payment), so the
  ledger tells staff credits from money received. Credits made before are matched to
  their payment by the id their reason ends with.

Revision ID: b3f1d2e40c7a
Revises: a1c4a1000002
Create Date: 2026-11-27 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b3f1d2e40c7a"
down_revision: str | None = "a1c4a1000002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "billing"


def upgrade() -> None:
    op.create_table(
        "service_terms",
        sa.Column("id", sa.String(length=25), nullable=False),
        sa.Column("service_id", sa.String(length=25), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("monthly_fee", sa.Integer(), nullable=False),
        sa.Column("effective_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["billing.services.id"],
            name=op.f("fk_service_terms_service_id_services"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_terms")),
        sa.UniqueConstraint(
            "service_id",
            "effective_until",
            name=op.f("uq_service_terms_service_id_effective_until"),
        ),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_billing_service_terms_service_id"),
        "service_terms",
        ["service_id"],
        unique=False,
        schema=SCHEMA,
    )
    op.add_column(
        "billing_accounts",
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        schema=SCHEMA,
    )
    op.add_column(
        "invoices", sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True), schema=SCHEMA
    )
    op.add_column(
        "credits", sa.Column("payment_id", sa.String(length=64), nullable=True), schema=SCHEMA
    )
    op.create_unique_constraint(
        op.f("uq_credits_payment_id"), "credits", ["payment_id"], schema=SCHEMA
    )
    # voided_at is no part of what the immutability trigger guards.
    op.execute(
        """
        UPDATE billing.invoices SET voided_at = COALESCE(
            (SELECT min(a.timestamp) FROM billing.audit_logs a
             WHERE a.action = 'invoice.voided' AND a.entity_id = invoices.id),
            updated_at)
        WHERE status = 'VOID'
        """
    )
    op.execute(
        """
        UPDATE billing.credits SET payment_id = p.payment_id
        FROM billing.applied_payments p
        WHERE right(credits.reason, length(p.payment_id) + 1) = ' ' || p.payment_id
          AND (credits.reason LIKE 'Payment on account: %'
               OR credits.reason LIKE 'Over-payment of %'
               OR credits.reason LIKE 'Payment of void invoice %')
        """
    )


def downgrade() -> None:
    op.drop_constraint(op.f("uq_credits_payment_id"), "credits", schema=SCHEMA, type_="unique")
    op.drop_column("credits", "payment_id", schema=SCHEMA)
    op.drop_column("invoices", "voided_at", schema=SCHEMA)
    op.drop_column("billing_accounts", "closed_at", schema=SCHEMA)
    op.drop_index(
        op.f("ix_billing_service_terms_service_id"), table_name="service_terms", schema=SCHEMA
    )
    op.drop_table("service_terms", schema=SCHEMA)
