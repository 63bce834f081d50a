"""Identity's entrypoints. Domain logic lives in the modules they call."""

from __future__ import annotations

from typing import Any

from nameko.rpc import rpc

from services.identity import organizations
from services.identity.models import tables
from shared.dependencies import Database
from shared.entrypoints import ServiceBase


class IdentityService(ServiceBase):
    name = "identity"
    db = Database("identity", tables)

    @rpc
    def create_organization(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return organizations.create_organization(uow, data)

    @rpc
    def get_organization(self, organization_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return organizations.get_organization(uow, organization_id)
