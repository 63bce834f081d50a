"""The notifications service's entrypoints: the schema and `health` so far."""

from __future__ import annotations

from services.notifications.models import tables
from shared.dependencies import Database
from shared.entrypoints import ServiceBase


class NotificationsService(ServiceBase):
    name = "notifications"
    db = Database("notifications", tables)
