"""Per-service settings (the seed's SystemSetting), each service in its own table."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from shared.ids import cuid
from shared.unit_of_work import UnitOfWork


def ensure_defaults(uow: UnitOfWork, defaults: Mapping[str, str]) -> list[str]:
    """Insert settings that are missing; never overwrite one staff have changed."""
    model = uow.tables.system_setting
    added = []
    for key, value in defaults.items():
        inserted = uow.session.scalar(
            insert(model)
            .values(id=cuid(), key=key, value=value)
            .on_conflict_do_nothing(index_elements=[model.key])
            .returning(model.key)
        )
        if inserted:
            added.append(key)
    return added


def get_setting(uow: UnitOfWork, key: str, default: str) -> str:
    model = uow.tables.system_setting
    value = uow.session.scalar(select(model.value).where(model.key == key))
    return default if value is None else value
