"""The organization an operation acts on. CVT staff and the suite itself pass `authorize`
for any organization id, made-up ones included, so an operation that uses the id must
first find the organization: a 404 naming it, never a foreign-key violation."""

from __future__ import annotations

from services.identity.models import Organization
from shared import context
from shared.authorization import Permission, authorize
from shared.errors import NotFound
from shared.ids import is_cuid
from shared.unit_of_work import UnitOfWork

# Ids are CUIDs; anything else is echoed back shortened and escaped.
SHOWN_ID_LENGTH = 40


def existing_organization(uow: UnitOfWork, organization_id: str) -> Organization:
    # Anything but a CUID cannot be one, and may not even be storable (NUL): no query.
    organization = (
        uow.session.get(Organization, organization_id) if is_cuid(organization_id) else None
    )
    if organization is None:
        shown = ascii(str(organization_id)[:SHOWN_ID_LENGTH])[1:-1]
        raise NotFound(f"organization {shown} not found", {"organization_id": ["not found"]})
    return organization


def authorize_in(
    uow: UnitOfWork, organization_id: str, permission: Permission
) -> context.CallContext:
    """`authorize`, then 404 if the organization does not exist."""
    ctx = authorize(organization_id, permission)
    existing_organization(uow, organization_id)
    return ctx
