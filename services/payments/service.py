"""Payments' entrypoints. Domain logic lives in the modules they call."""

from __future__ import annotations

from typing import Any

from nameko.rpc import RpcProxy, rpc

from services.payments import manual
from services.payments.models import tables
from shared.authorization import require_staff
from shared.dependencies import Database
from shared.entrypoints import ServiceBase


class PaymentsService(ServiceBase):
    name = "payments"
    db = Database("payments", tables)
    billing = RpcProxy("billing")

    @rpc
    def record_manual_payment(self, organization_id: str, data: dict[str, Any]) -> dict:
        require_staff()
        account = self.billing.get_billing_account(organization_id)
        with self.db.transaction() as uow:
            return manual.record_manual_payment(uow, organization_id, account["id"], data)
