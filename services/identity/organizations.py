"""Organizations: the tenants of the suite."""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from services.identity.models import Organization
from services.identity.schemas import OrganizationCreateSchema, OrganizationSchema
from shared.errors import Conflict, NotFound
from shared.schemas import load
from shared.unit_of_work import UnitOfWork


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:50].strip("-")
    return slug or "org"


def _free_slug(uow: UnitOfWork, wanted: str | None, name: str) -> str:
    if wanted:
        return wanted
    base = slugify(name)
    slug = base
    while uow.session.scalar(select(exists().where(Organization.slug == slug))):
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


def create_organization(uow: UnitOfWork, data: dict[str, Any]) -> dict[str, Any]:
    fields = load(OrganizationCreateSchema(), data)
    organization = Organization(**fields)
    organization.slug = _free_slug(uow, fields.get("slug"), fields["name"])
    uow.session.add(organization)
    try:
        uow.session.flush()
    except IntegrityError as exc:
        raise Conflict("slug already taken", {"slug": ["already taken"]}) from exc
    uow.audit("organization.created", "Organization", organization.id, {"slug": organization.slug})
    uow.emit(
        "organization.created",
        {
            "organization_id": organization.id,
            "name": organization.name,
            "slug": organization.slug,
            "email": organization.email,
        },
    )
    return OrganizationSchema().dump(organization)


def get_organization(uow: UnitOfWork, organization_id: str) -> dict[str, Any]:
    organization = uow.session.get(Organization, organization_id)
    if organization is None:
        raise NotFound("organization not found", {"organization_id": ["not found"]})
    return OrganizationSchema().dump(organization)
