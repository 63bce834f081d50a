"""Staff views across every organization and user."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema
from sqlalchemy import Select, func, or_, select

from services.identity.models import Organization, User
from services.identity.schemas import DirectoryQuerySchema, OrganizationSchema, UserSchema
from shared.authorization import require_staff
from shared.schemas import load
from shared.unit_of_work import UnitOfWork


def _page(uow: UnitOfWork, statement: Select, order: Any, schema: Schema, page: dict) -> dict:
    total = uow.session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = uow.session.scalars(
        statement.order_by(order).limit(page["limit"]).offset(page["offset"])
    ).all()
    return {"items": schema.dump(rows, many=True), "total": total}


def list_organizations(uow: UnitOfWork, query: dict[str, Any]) -> dict[str, Any]:
    """Every organization, newest first, searchable by name, slug or email."""
    require_staff()
    page = load(DirectoryQuerySchema(), query)
    statement = select(Organization)
    if page.get("q"):
        pattern = f"%{page['q']}%"
        statement = statement.where(
            or_(
                Organization.name.ilike(pattern),
                Organization.slug.ilike(pattern),
                Organization.email.ilike(pattern),
            )
        )
    return _page(uow, statement, Organization.created_at.desc(), OrganizationSchema(), page)


def list_users(uow: UnitOfWork, query: dict[str, Any]) -> dict[str, Any]:
    """Every user, newest first, searchable by email or name."""
    require_staff()
    page = load(DirectoryQuerySchema(), query)
    statement = select(User)
    if page.get("q"):
        pattern = f"%{page['q']}%"
        statement = statement.where(or_(User.email.ilike(pattern), User.name.ilike(pattern)))
    return _page(uow, statement, User.created_at.desc(), UserSchema(), page)
