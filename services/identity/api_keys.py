"""API keys for POS terminals and integrations. The whole key is shown once, at creation;
the database keeps its SHA-256 and its first 8 characters (to recognise it in a list)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from services.identity.events import ApiKeyRevoked
from services.identity.models import ApiKey
from services.identity.schemas import ApiKeyCreateSchema, ApiKeySchema
from services.identity.tenants import authorize_in
from shared.authorization import MANAGE_API_KEYS, require_system
from shared.clock import utcnow
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.pagination import paginate
from shared.schemas import PageQuerySchema, load
from shared.tokens import new_secret, secret_hash
from shared.unit_of_work import UnitOfWork

PREFIX_LENGTH = 8


def create_api_key(uow: UnitOfWork, organization_id: str, data: dict[str, Any]) -> dict[str, Any]:
    authorize_in(uow, organization_id, MANAGE_API_KEYS)
    fields = load(ApiKeyCreateSchema(), data)
    expires_at = fields.get("expires_at")
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed("expiry in the past", {"expires_at": ["must be in the future"]})
    key = new_secret()
    api_key = ApiKey(
        organization_id=organization_id,
        name=fields["name"],
        key_hash=secret_hash(key),
        key_prefix=key[:PREFIX_LENGTH],
        scopes=sorted(set(fields["scopes"])),
        expires_at=expires_at,
        rate_limit=fields.get("rate_limit", 1000),
    )
    uow.session.add(api_key)
    uow.session.flush()
    uow.audit(
        "api_key.created",
        "ApiKey",
        api_key.id,
        {
            "organization_id": organization_id,
            "prefix": api_key.key_prefix,
            "scopes": api_key.scopes,
        },
        organization_id=organization_id,
    )
    return {**ApiKeySchema().dump(api_key), "key": key}


def list_api_keys(uow: UnitOfWork, organization_id: str, query: dict[str, Any]) -> dict[str, Any]:
    authorize_in(uow, organization_id, MANAGE_API_KEYS)
    page = load(PageQuerySchema(), query)
    statement = (
        select(ApiKey)
        .where(ApiKey.organization_id == organization_id)
        .order_by(ApiKey.created_at, ApiKey.id)
    )
    return paginate(uow.session, statement, page, ApiKeySchema().dump)


def revoke_api_key(uow: UnitOfWork, organization_id: str, api_key_id: str) -> dict[str, Any]:
    authorize_in(uow, organization_id, MANAGE_API_KEYS)
    api_key = uow.session.get(ApiKey, api_key_id)
    if api_key is None or api_key.organization_id != organization_id:
        raise NotFound("API key not found", {"api_key_id": ["not found"]})
    if not api_key.is_active:
        raise Conflict("already revoked")
    api_key.is_active = False
    uow.audit(
        "api_key.revoked",
        "ApiKey",
        api_key.id,
        {"organization_id": organization_id},
        organization_id=organization_id,
    )
    announce_revocation(uow, [api_key])
    return ApiKeySchema().dump(api_key)


def announce_revocation(uow: UnitOfWork, api_keys: list[ApiKey]) -> None:
    """Every gateway instance drops these keys from its cache on this event."""
    for api_key in api_keys:
        uow.emit(ApiKeyRevoked(api_key_id=api_key.id, organization_id=api_key.organization_id))


def resolve_api_key(uow: UnitOfWork, key_hash: str) -> dict[str, Any] | None:
    """What the gateway caches for a presented key (it sends only the hash)."""
    api_key = uow.session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))
    if api_key is None:
        return None
    return {
        "id": api_key.id,
        "organization_id": api_key.organization_id,
        "scopes": list(api_key.scopes),
        "rate_limit": api_key.rate_limit,
        "is_active": api_key.is_active,
        "expires_at": api_key.expires_at.isoformat() if api_key.expires_at else None,
    }


def record_usage(uow: UnitOfWork, last_used: dict[str, str]) -> int:
    """Apply the gateways' batched lastUsedAt stamps; older stamps never win."""
    require_system()
    updated = 0
    for api_key_id, stamp in last_used.items():
        when = datetime.fromisoformat(stamp)
        updated += uow.session.execute(
            update(ApiKey)
            .where(ApiKey.id == api_key_id)
            .values(last_used_at=func.greatest(func.coalesce(ApiKey.last_used_at, when), when))
        ).rowcount
    return updated
