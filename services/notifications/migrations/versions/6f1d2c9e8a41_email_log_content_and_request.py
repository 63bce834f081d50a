"""email log content, recipients, organization, request and resends

What staff need to read, search and resend an email: its recipients as a searchable list,
both parts as sent (links' tokens withheld), the organization, the request that caused it
and the email a resend repeats. Rows written before keep no content: they cannot be resent.

Revision ID: 6f1d2c9e8a41
Revises: a1c4a1000006
Create Date: 2026-11-27 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6f1d2c9e8a41"
down_revision: str | None = "a1c4a1000006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "notifications"


def upgrade() -> None:
    op.add_column(
        "email_logs",
        sa.Column("recipients", sa.ARRAY(sa.String()), server_default="{}", nullable=False),
        schema=SCHEMA,
    )
    op.add_column(
        "email_logs",
        sa.Column("organization_id", sa.String(length=25), nullable=True),
        schema=SCHEMA,
    )
    op.add_column(
        "email_logs", sa.Column("request_id", sa.String(length=64), nullable=True), schema=SCHEMA
    )
    op.add_column(
        "email_logs",
        sa.Column("resent_from_id", sa.String(length=25), nullable=True),
        schema=SCHEMA,
    )
    op.add_column("email_logs", sa.Column("text_body", sa.Text(), nullable=True), schema=SCHEMA)
    op.add_column("email_logs", sa.Column("html_body", sa.Text(), nullable=True), schema=SCHEMA)
    op.add_column(
        "email_logs", sa.Column("token_kind", sa.String(length=32), nullable=True), schema=SCHEMA
    )
    op.add_column(
        "email_logs", sa.Column("token_ref", sa.String(length=25), nullable=True), schema=SCHEMA
    )
    op.create_foreign_key(
        op.f("fk_email_logs_resent_from_id_email_logs"),
        "email_logs",
        "email_logs",
        ["resent_from_id"],
        ["id"],
        source_schema=SCHEMA,
        referent_schema=SCHEMA,
    )
    # Rows written before name their recipients in `to` only (", " between addresses).
    op.execute(f"UPDATE {SCHEMA}.email_logs SET recipients = string_to_array(lower(\"to\"), ', ')")
    op.create_index(
        "ix_email_logs_recipients",
        "email_logs",
        ["recipients"],
        schema=SCHEMA,
        postgresql_using="gin",
    )
    op.create_index("ix_email_logs_created", "email_logs", ["created_at", "id"], schema=SCHEMA)
    op.create_index(
        op.f("ix_notifications_email_logs_organization_id"),
        "email_logs",
        ["organization_id"],
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_notifications_email_logs_request_id"), "email_logs", ["request_id"], schema=SCHEMA
    )
    op.create_index(
        op.f("ix_notifications_email_logs_resent_from_id"),
        "email_logs",
        ["resent_from_id"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_notifications_email_logs_resent_from_id"), "email_logs", schema=SCHEMA)
    op.drop_index(op.f("ix_notifications_email_logs_request_id"), "email_logs", schema=SCHEMA)
    op.drop_index(op.f("ix_notifications_email_logs_organization_id"), "email_logs", schema=SCHEMA)
    op.drop_index("ix_email_logs_created", "email_logs", schema=SCHEMA)
    op.drop_index("ix_email_logs_recipients", "email_logs", schema=SCHEMA)
    op.drop_constraint(
        op.f("fk_email_logs_resent_from_id_email_logs"),
        "email_logs",
        schema=SCHEMA,
        type_="foreignkey",
    )
    for column in (
        "token_ref",
        "token_kind",
        "html_body",
        "text_body",
        "resent_from_id",
        "request_id",
        "organization_id",
        "recipients",
    ):
        op.drop_column("email_logs", column, schema=SCHEMA)
