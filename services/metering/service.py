"""Metering's entrypoints. Domain logic lives in the modules they call."""

from __future__ import annotations

import logging
from typing import Any

from nameko.rpc import rpc

from services.metering import event_types, ingest, usage
from services.metering.events import USAGE_QUEUE
from services.metering.models import tables
from shared import metrics
from shared.dependencies import Database
from shared.entrypoints import ServiceBase, queue_consumer
from shared.errors import ValidationFailed

log = logging.getLogger(__name__)


class MeteringService(ServiceBase):
    name = "metering"
    db = Database("metering", tables)

    @queue_consumer(USAGE_QUEUE)
    def record_usage(self, message: dict[str, Any]) -> None:
        events, problems = ingest.storable_events(message)
        with self.db.transaction() as uow:
            new, duplicates = ingest.record_usage(uow, message, events)
        metrics.count_usage(new, duplicates)
        log.info(
            "recorded %d usage event(s) of organization %s (%d duplicate(s) ignored)",
            new, message.get("organization_id"), duplicates,
        )  # fmt: skip
        if problems:
            # The good events are committed; the message is parked for the rest.
            raise ValidationFailed("usage events that cannot be stored", problems)

    @rpc
    def usage_report(self, organization_id: str, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return usage.usage_report(uow, organization_id, query)

    @rpc
    def claim_usage(self, organization_id: str, period_end: str, invoice_id: str) -> dict:
        with self.db.transaction() as uow:
            return usage.claim_usage(uow, organization_id, period_end, invoice_id)

    @rpc
    def claim_usage_batch(self, period_end: str, claims: list[list[str]]) -> dict:
        with self.db.transaction() as uow:
            return usage.claim_usage_batch(uow, period_end, claims)

    @rpc
    def release_usage(self, invoice_id: str) -> int:
        with self.db.transaction() as uow:
            return usage.release_usage(uow, invoice_id)

    @rpc
    def active_event_types(self) -> list[str]:
        with self.db.transaction() as uow:
            return event_types.active_event_types(uow)

    @rpc
    def list_event_types(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return event_types.list_event_types(uow, query)

    @rpc
    def create_event_type(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return event_types.create_event_type(uow, data)

    @rpc
    def update_event_type(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return event_types.update_event_type(uow, name, data)
