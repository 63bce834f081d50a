"""Alembic, once for all services.

One environment (`shared/alembic/`) serves every service; each service keeps its own
revisions in `services/<name>/migrations/versions/` and its own version table inside its
own schema, so services migrate independently.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic import command
from alembic.config import Config

from shared import config

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENT = Path(__file__).resolve().parent / "alembic"


def versions_dir(service: str) -> Path:
    return ROOT / "services" / service / "migrations" / "versions"


def alembic_config(service: str, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ENVIRONMENT))
    cfg.set_main_option("version_locations", str(versions_dir(service)))
    cfg.set_main_option("sqlalchemy.url", (url or config.database_url(service)).replace("%", "%%"))
    cfg.attributes["service"] = service
    return cfg


def target_metadata(service: str):
    return importlib.import_module(f"services.{service}.models").Base.metadata


def upgrade(service: str, url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, url), revision)


def revision(service: str, message: str) -> None:
    """Autogenerate a revision from the difference between models.py and the database."""
    command.revision(alembic_config(service), message=message, autogenerate=True)
