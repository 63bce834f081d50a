"""The migrations build exactly what models.py maps: autogenerate finds nothing left to do
on the run's database."""

from __future__ import annotations

from alembic import command

from shared import migrations
from tests.harness import RunEnvironment


def test_the_migrated_schema_is_the_models(test_environment: RunEnvironment) -> None:
    command.check(migrations.alembic_config("billing"))  # raises if anything differs
