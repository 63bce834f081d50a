"""The support service's entrypoints: the schema and `health` so far."""

from __future__ import annotations

from services.support.models import tables
from shared.dependencies import Database
from shared.entrypoints import ServiceBase


class SupportService(ServiceBase):
    name = "support"
    db = Database("support", tables)
