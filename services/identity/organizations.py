"""Organizations: the tenants of the suite."""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from services.identity.api_keys import announce_revocation
from services.identity.events import OrganizationCreated, OrganizationDeleted, OrganizationUpdated
from services.identity.members import contacts_of
from services.identity.models import ApiKey, DepartedOrganization, Organization, OrganizationMember
from services.identity.schemas import (
    OrganizationCreateSchema,
    OrganizationSchema,
    OrganizationUpdateSchema,
)
from services.identity.tenants import existing_organization
from shared.authorization import (
    DELETE_ORGANIZATION,
    MANAGE_ORGANIZATION,
    VIEW_ORGANIZATION,
    MemberRole,
    authorize,
    require_user,
)
from shared.errors import Conflict
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
    """The signed-in creator becomes its OWNER."""
    ctx = require_user()
    fields = load(OrganizationCreateSchema(), data)
    organization = Organization(**fields)
    organization.slug = _free_slug(uow, fields.get("slug"), fields["name"])
    uow.session.add(organization)
    try:
        uow.session.flush()
    except IntegrityError as exc:
        raise Conflict("slug already taken", {"slug": ["already taken"]}) from exc
    uow.session.add(
        OrganizationMember(
            organization_id=organization.id, user_id=ctx.actor_id, role=MemberRole.OWNER
        )
    )
    uow.audit(
        "organization.created",
        "Organization",
        organization.id,
        {"slug": organization.slug},
        organization_id=organization.id,
    )
    uow.emit(
        OrganizationCreated(
            organization_id=organization.id,
            name=organization.name,
            slug=organization.slug,
            email=organization.email,
            owner_user_id=ctx.actor_id,
        )
    )
    return OrganizationSchema().dump(organization)


def get_organization(uow: UnitOfWork, organization_id: str) -> dict[str, Any]:
    authorize(organization_id, VIEW_ORGANIZATION)
    return OrganizationSchema().dump(existing_organization(uow, organization_id))


def update_organization(
    uow: UnitOfWork, organization_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    authorize(organization_id, MANAGE_ORGANIZATION)
    fields = load(OrganizationUpdateSchema(), data)
    organization = existing_organization(uow, organization_id)
    for name, value in fields.items():
        setattr(organization, name, value)
    uow.audit(
        "organization.updated",
        "Organization",
        organization.id,
        {"fields": sorted(fields)},
        organization_id=organization.id,
    )
    uow.emit(
        OrganizationUpdated(
            organization_id=organization.id, name=organization.name, email=organization.email
        )
    )
    return OrganizationSchema().dump(organization)


def delete_organization(uow: UnitOfWork, organization_id: str) -> None:
    """Members, invitations and API keys go with it; billing keeps its records."""
    authorize(organization_id, DELETE_ORGANIZATION)
    organization = existing_organization(uow, organization_id)
    keys = uow.session.scalars(
        select(ApiKey).where(ApiKey.organization_id == organization_id, ApiKey.is_active)
    ).all()
    announce_revocation(uow, list(keys))
    # Billing sends the final invoice after this commits: keep whom to send it to.
    uow.session.add(
        DepartedOrganization(
            organization_id=organization.id, billing_contacts=contacts_of(uow, organization)
        )
    )
    uow.session.delete(organization)
    uow.audit(
        "organization.deleted",
        "Organization",
        organization_id,
        {"slug": organization.slug},
        organization_id=organization_id,
    )
    uow.emit(OrganizationDeleted(organization_id=organization_id))
