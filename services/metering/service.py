"""The metering service's entrypoints: the schema and `health` so far."""

from __future__ import annotations

from services.metering.models import tables
from shared.dependencies import Database
from shared.entrypoints import ServiceBase


class MeteringService(ServiceBase):
    name = "metering"
    db = Database("metering", tables)
