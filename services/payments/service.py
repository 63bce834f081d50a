"""Payments' entrypoints. Domain logic lives in the modules they call."""

from __future__ import annotations

import logging
from typing import Any

from nameko.rpc import RpcProxy, rpc
from nameko.timer import timer

from services.billing.events import CreditApplied
from services.payments import checkout, listing, manual, poller, settings, status
from services.payments.invoices import ask
from services.payments.models import tables
from services.payments.paynow import PaynowClient
from shared import config
from shared.dependencies import Database
from shared.entrypoints import ServiceBase, event_handler

log = logging.getLogger(__name__)


class PaymentsService(ServiceBase):
    name = "payments"
    db = Database("payments", tables)
    # Defaults checked when the process starts: a bad one stops it, naming the variable.
    declared_settings = settings.DECLARED.check_defaults()
    billing = RpcProxy("billing")

    # --- staff ----------------------------------------------------------------------------

    @rpc
    def record_manual_payment(self, organization_id: str, data: dict[str, Any]) -> dict:
        return manual.record_manual_payment(
            self.db, organization_id, data, self._invoice, self._billing_account
        )

    @rpc
    def check_payment(self, payment_id: str) -> dict[str, Any]:
        return status.check_payment(self.db, PaynowClient.from_settings(), payment_id)

    @rpc
    def list_all_payments(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return listing.list_all_payments(uow, query)

    # --- members --------------------------------------------------------------------------

    @rpc
    def start_checkout(
        self, organization_id: str, invoice_id: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        return checkout.start_checkout(
            self.db, PaynowClient.from_settings(), organization_id, invoice_id, data, self._invoice
        )

    @rpc
    def list_payments(self, organization_id: str, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return listing.list_payments(uow, organization_id, query)

    @rpc
    def get_payment(self, organization_id: str, payment_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return listing.get_payment(uow, organization_id, payment_id)

    # --- payers holding a payment link (anonymous: the token is the authority) ------------

    @rpc
    def describe_payment_link(self, token: str) -> dict[str, Any]:
        return checkout.describe_payment_link(self.db, token, self._link)

    @rpc
    def start_checkout_by_token(self, token: str, data: dict[str, Any]) -> dict[str, Any]:
        return checkout.start_checkout_by_token(
            self.db, PaynowClient.from_settings(), token, data, self._link
        )

    @rpc
    def get_payment_by_token(self, token: str, payment_id: str) -> dict[str, Any]:
        return checkout.get_payment_by_token(self.db, token, payment_id, self._link)

    # --- Paynow ---------------------------------------------------------------------------

    @rpc
    def receive_status_post(self, body: str) -> dict[str, Any]:
        """The raw url-encoded body Paynow posted to the result URL (the gateway's
        POST /webhooks/paynow); its hash is the authority."""
        return status.receive_status_post(self.db, PaynowClient.from_settings(), body)

    @timer(interval=float(config.PAYNOW_POLL_INTERVAL_SECONDS.get()))
    def poll_pending_payments(self) -> None:
        """Every replica: poll due pending Paynow payments, expire abandoned ones."""
        poller.poll_pending_payments(self.db, PaynowClient.from_settings())

    # --- billing's events -----------------------------------------------------------------

    @event_handler(CreditApplied)
    def record_applied_credit(self, event: CreditApplied) -> None:
        with self.db.transaction() as uow:
            new = manual.record_applied_credit(uow, event)
        log.info(
            "credit applied to invoice %s: %s",
            event.invoice_id,
            "recorded" if new else "already recorded (repeated event)",
        )

    # --- asking billing (as the caller: their context travels with the call) -------------

    def _invoice(self, organization_id: str, invoice_id: str) -> dict[str, Any]:
        return ask(self.billing.get_invoice, organization_id, invoice_id)

    def _billing_account(self, organization_id: str) -> dict[str, Any]:
        return ask(self.billing.get_billing_account, organization_id)

    def _link(self, token: str) -> dict[str, Any]:
        return ask(self.billing.invoice_for_payment_link, token)
