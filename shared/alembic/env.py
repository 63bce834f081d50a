"""Alembic environment shared by every service (see shared/migrations.py)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from shared.migrations import target_metadata

service = context.config.attributes["service"]
metadata = target_metadata(service)
schema = metadata.schema


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    # Look only at this service's schema: other services' tables are none of its business.
    return name == schema if type_ == "schema" else True


def run_migrations_online() -> None:
    engine = create_engine(
        context.config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        # Two instances starting together must not both migrate: serialize on a lock.
        connection.execute(
            text("SELECT pg_advisory_lock(hashtext(:key))"), {"key": f"migrate:{schema}"}
        )
        try:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            connection.commit()
            context.configure(
                connection=connection,
                target_metadata=metadata,
                version_table_schema=schema,
                include_schemas=True,
                include_name=include_name,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(
                text("SELECT pg_advisory_unlock(hashtext(:key))"), {"key": f"migrate:{schema}"}
            )
            connection.commit()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run them online")
run_migrations_online()
