"""The payments service's entrypoints: the schema and `health` so far."""

from __future__ import annotations

from services.payments.models import tables
from shared.dependencies import Database
from shared.entrypoints import ServiceBase


class PaymentsService(ServiceBase):
    name = "payments"
    db = Database("payments", tables)
