"""Payments' entrypoints. Domain logic lives in the modules they call."""

from __future__ import annotations

from typing import Any

from nameko.rpc import RpcProxy, rpc

from services.payments import manual
from services.payments.models import tables
from shared.dependencies import Database
from shared.entrypoints import ServiceBase


class PaymentsService(ServiceBase):
    name = "payments"
    db = Database("payments", tables)
    billing = RpcProxy("billing")

    @rpc
    def record_manual_payment(self, organization_id: str, data: dict[str, Any]) -> dict:
        with self.db.transaction() as uow:
            return manual.record_manual_payment(uow, organization_id, data, self._invoice)

    def _invoice(self, organization_id: str, invoice_id: str) -> dict[str, Any]:
        # On behalf of the staff caller (their context travels with the call).
        return manual.invoice_from_billing(self.billing, organization_id, invoice_id)
