"""API keys of an organization, for its POS terminals and integrations."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request

from gateway.access import members_who_may
from gateway.routing import Gateway, RouteTable
from services.identity import schemas as identity
from shared.authorization import MANAGE_API_KEYS
from shared.rpc import call
from shared.schemas import PageQuerySchema

routes = RouteTable("api keys")


@routes.add(
    "POST",
    "/v1/organizations/<org_id>/api-keys",
    summary="Create an API key; the whole key is in this answer only",
    access=members_who_may(MANAGE_API_KEYS),
    request=identity.ApiKeyCreateSchema,
    response=identity.CreatedApiKeySchema,
    status=201,
)
def create_api_key(gateway: Gateway, request: Request, org_id: str, body: dict) -> dict:
    return call(gateway.identity.create_api_key, org_id, body)


@routes.add(
    "GET",
    "/v1/organizations/<org_id>/api-keys",
    summary="API keys (prefix, never the key), oldest first",
    access=members_who_may(MANAGE_API_KEYS),
    query=PageQuerySchema,
    response=identity.ApiKeyPageSchema,
)
def list_api_keys(gateway: Gateway, request: Request, org_id: str, query: dict) -> dict[str, Any]:
    return call(gateway.identity.list_api_keys, org_id, query)


@routes.add(
    "DELETE",
    "/v1/organizations/<org_id>/api-keys/<api_key_id>",
    summary="Revoke an API key (every gateway refuses it at once)",
    access=members_who_may(MANAGE_API_KEYS),
    status=204,
    errors=[409],
)
def revoke_api_key(gateway: Gateway, request: Request, org_id: str, api_key_id: str) -> None:
    call(gateway.identity.revoke_api_key, org_id, api_key_id)
