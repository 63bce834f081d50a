"""The one list envelope, `{"items", "total", "limit", "offset"}`, for every list that can
grow. Services page in their query (`?limit=&offset=`, `shared.schemas.PageQuerySchema`),
never by slicing a whole list afterwards."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import Schema, fields
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session


class PageSchema(Schema):
    """A page of a list; each list's page schema adds its typed `items`."""

    total = fields.Integer(
        required=True, metadata={"description": "How many match the query, on every page"}
    )
    limit = fields.Integer(required=True, metadata={"description": "The page size asked for"})
    offset = fields.Integer(required=True, metadata={"description": "Rows skipped before it"})


def paginate(
    session: Session,
    statement: Select,
    page: Mapping[str, int],
    dump: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    """The page of `statement` that `page` (a loaded PageQuerySchema) names. `statement`
    carries its order, ending in a unique column so that pages never overlap; `dump`
    receives each row's columns."""
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    rows = session.execute(statement.limit(page["limit"]).offset(page["offset"])).all()
    return {
        "items": [dump(*row) for row in rows],
        "total": total,
        "limit": page["limit"],
        "offset": page["offset"],
    }
