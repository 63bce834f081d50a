"""Support's entrypoints. Domain logic lives in the modules they call."""

from __future__ import annotations

import logging
from typing import Any

from nameko.rpc import RpcProxy, rpc
from nameko.timer import timer

from services.billing.events import BillingAccountSuspended
from services.payments.events import PaymentDisputed, PaymentRefunded
from services.support import automatic, messages, search, settings, summary, tickets
from services.support.models import tables
from services.support.response_targets import ResponseTargets
from shared.dependencies import Database
from shared.entrypoints import ServiceBase, event_handler
from shared.rpc import call

log = logging.getLogger(__name__)

# Below the gateway's RPC deadline (10 s), so a slow owner is our 503, not the gateway's.
OWNER_TIMEOUT_SECONDS = 5.0
SUMMARY_CHECK_INTERVAL_SECONDS = 3600


class SupportService(ServiceBase):
    name = "support"
    db = Database("support", tables)
    billing = RpcProxy("billing")
    payments = RpcProxy("payments")
    identity = RpcProxy("identity")

    # Defaults checked when the process starts: a bad one stops it, naming the variable.
    declared_settings = settings.DECLARED.check_defaults()

    # --- members (staff may act for any organization) ---------------------------------

    @rpc
    def open_ticket(self, organization_id: str, data: dict[str, Any]) -> dict[str, Any]:
        owners = {
            "invoice_id": self._ask(self.billing.get_invoice),
            "payment_id": self._ask(self.payments.get_payment),
            "service_id": self._ask(self.billing.get_service),
        }
        return tickets.open_ticket(self.db, organization_id, data, self._targets(), owners)

    @rpc
    def list_tickets(self, organization_id: str, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return search.list_tickets(uow, organization_id, query)

    @rpc
    def get_ticket(self, organization_id: str, ticket_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return tickets.get_ticket(uow, organization_id, ticket_id)

    @rpc
    def list_messages(
        self, organization_id: str, ticket_id: str, query: dict[str, Any]
    ) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return messages.list_messages(uow, organization_id, ticket_id, query)

    @rpc
    def reply(self, organization_id: str, ticket_id: str, data: dict[str, Any]) -> dict:
        with self.db.transaction() as uow:
            return messages.reply(uow, organization_id, ticket_id, data)

    @rpc
    def close_ticket(self, organization_id: str, ticket_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return tickets.close_ticket(uow, organization_id, ticket_id)

    # --- staff ----------------------------------------------------------------------------

    @rpc
    def list_all_tickets(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return search.list_all_tickets(uow, query)

    @rpc
    def get_any_ticket(self, ticket_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return tickets.get_any_ticket(uow, ticket_id)

    @rpc
    def list_any_messages(self, ticket_id: str, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return messages.list_any_messages(uow, ticket_id, query)

    @rpc
    def post_staff_message(self, ticket_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return messages.post_staff_message(uow, ticket_id, data)

    @rpc
    def assign_ticket(self, ticket_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return tickets.assign_ticket(self.db, ticket_id, data, self._ask(self.identity.staff_user))

    @rpc
    def change_ticket_status(self, ticket_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return tickets.change_ticket_status(uow, ticket_id, data)

    @rpc
    def update_ticket(self, ticket_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            targets = settings.current_targets(uow)
            return tickets.update_ticket(uow, ticket_id, data, targets)

    @rpc
    def support_summary(self) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return summary.support_summary(uow)

    # --- the suite ------------------------------------------------------------------------

    @rpc
    def ticket_recipients(self, ticket_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return tickets.ticket_recipients(uow, ticket_id)

    @timer(interval=SUMMARY_CHECK_INTERVAL_SECONDS)
    def send_daily_summary(self) -> None:
        """Hourly, every replica: the first check past the hour each day sends it."""
        with self.db.transaction() as uow:
            hour = settings.summary_hour(uow)
        if summary.send_daily_summary(self.db, hour):
            log.info("daily support summary sent")

    # --- tickets that open themselves -----------------------------------------------------

    @event_handler(PaymentDisputed)
    def ticket_for_disputed_payment(self, event: PaymentDisputed) -> None:
        outcome = automatic.payment_disputed(self.db, event, self._targets())
        log.info("disputed payment %s: %s", event.payment_id, outcome.value)

    @event_handler(PaymentRefunded)
    def ticket_for_refunded_payment(self, event: PaymentRefunded) -> None:
        outcome = automatic.payment_refunded(self.db, event, self._targets())
        log.info("refunded payment %s: %s", event.payment_id, outcome.value)

    @event_handler(BillingAccountSuspended)
    def ticket_for_suspended_account(self, event: BillingAccountSuspended) -> None:
        outcome = automatic.account_suspended(self.db, event, self._targets())
        log.info("suspended organization %s: %s", event.organization_id, outcome.value)

    def _targets(self) -> ResponseTargets:
        """The response targets staff set now (read before the domain's transaction)."""
        with self.db.transaction() as uow:
            return settings.current_targets(uow)

    # --- asking other services (as the caller: their context travels with the call) -----

    @staticmethod
    def _ask(method: Any) -> Any:
        """`method` (an RpcProxy method) with a deadline; asked before any transaction
        opens, never while one holds a connection."""
        return lambda *args: call(method, *args, timeout=OWNER_TIMEOUT_SECONDS)
