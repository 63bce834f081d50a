"""Staff views across every organization and user."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from services.identity.models import Organization, User
from services.identity.schemas import DirectoryQuerySchema, OrganizationSchema, UserSchema
from shared.authorization import require_staff
from shared.pagination import paginate
from shared.schemas import load
from shared.unit_of_work import UnitOfWork


def _contains(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, literally: a searched `%` or `_` is a
    character, not a wildcard (an undecodable query arrives as `%ED%A0%80`)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_organizations(uow: UnitOfWork, query: dict[str, Any]) -> dict[str, Any]:
    """Every organization, newest first, searchable by name, slug or email."""
    require_staff()
    page = load(DirectoryQuerySchema(), query)
    statement = select(Organization)
    if page.get("q"):
        pattern = _contains(page["q"])
        statement = statement.where(
            or_(
                Organization.name.ilike(pattern, escape="\\"),
                Organization.slug.ilike(pattern, escape="\\"),
                Organization.email.ilike(pattern, escape="\\"),
            )
        )
    statement = statement.order_by(Organization.created_at.desc(), Organization.id)
    return paginate(uow.session, statement, page, OrganizationSchema().dump)


def list_users(uow: UnitOfWork, query: dict[str, Any]) -> dict[str, Any]:
    """Every user, newest first, searchable by email or name."""
    require_staff()
    page = load(DirectoryQuerySchema(), query)
    statement = select(User)
    if page.get("q"):
        pattern = _contains(page["q"])
        statement = statement.where(
            or_(User.email.ilike(pattern, escape="\\"), User.name.ilike(pattern, escape="\\"))
        )
    statement = statement.order_by(User.created_at.desc(), User.id)
    return paginate(uow.session, statement, page, UserSchema().dump)
