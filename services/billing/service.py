"""Billing's entrypoints. Domain logic lives in the modules they call."""

from __future__ import annotations

import logging
from typing import Any

from nameko.rpc import rpc

from services.billing import accounts
from services.billing.models import tables
from shared.dependencies import Database
from shared.entrypoints import ServiceBase, event_handler

log = logging.getLogger(__name__)


class BillingService(ServiceBase):
    name = "billing"
    db = Database("billing", tables)

    @event_handler("identity", "organization.created")
    def open_account_for_new_organization(self, payload: dict[str, Any]) -> None:
        organization_id = payload["organization_id"]
        with self.db.transaction() as uow:
            opened = accounts.open_billing_account(uow, organization_id)
        log.info(
            "billing account for organization %s %s",
            organization_id,
            "opened" if opened else "already open (repeated event)",
        )

    @rpc
    def get_billing_account(self, organization_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return accounts.get_billing_account(uow, organization_id)
