"""Billing's entrypoints. Domain logic lives in the modules they call."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from nameko.rpc import RpcProxy, rpc
from nameko.timer import timer

from services.billing import (
    accounts,
    billing_runs,
    catalog,
    closing,
    invoicing,
    ledger,
    overdue,
    settings,
    settlement,
)
from services.billing.events import BillingRunStarted
from services.billing.models import tables
from services.identity.events import OrganizationCreated, OrganizationDeleted
from services.payments.events import PaymentPaid
from shared import config
from shared.clock import utcnow
from shared.dependencies import Database
from shared.entrypoints import ServiceBase, event_handler
from shared.rpc import call

log = logging.getLogger(__name__)

SCHEDULE_INTERVAL_SECONDS = 3600
# Below the gateway's deadline, like identity's (see accounts.IDENTITY_TIMEOUT_SECONDS).
METERING_TIMEOUT_SECONDS = 5.0
# A billing-run batch claims the usage of up to BILLING_RUN_BATCH_SIZE accounts at once;
# not a request anybody waits on.
CLAIM_BATCH_TIMEOUT_SECONDS = 30.0

# The billing runs this process is working on (its workers share the process).
_runs_worked_on_here: set[str] = set()


class BillingService(ServiceBase):
    name = "billing"
    db = Database("billing", tables)
    declared_settings = settings.DECLARED
    metering = RpcProxy("metering")
    identity = RpcProxy("identity")

    @event_handler(OrganizationCreated)
    def open_account_for_new_organization(self, event: OrganizationCreated) -> None:
        with self.db.transaction() as uow:
            opened = accounts.open_billing_account(uow, event.organization_id)
        log.info(
            "billing account for organization %s %s",
            event.organization_id,
            "opened" if opened else "already open (repeated event)",
        )

    @event_handler(OrganizationDeleted)
    def close_account_of_deleted_organization(self, event: OrganizationDeleted) -> None:
        outcome = closing.close_account(
            self.db,
            event.organization_id,
            datetime.fromisoformat(event.occurred_at),
            self._claim_usage,
            self._release_usage,
        )
        log.info(
            "organization %s deleted: account closed, final invoice %s",
            event.organization_id,
            outcome,
        )

    @event_handler(PaymentPaid)
    def settle_paid_payment(self, event: PaymentPaid) -> None:
        with self.db.transaction() as uow:
            outcome = settlement.settle_payment(uow, event)
        log.info("payment %s: %s", event.payment_id, outcome)

    @timer(interval=SCHEDULE_INTERVAL_SECONDS)
    def run_scheduled_jobs(self) -> None:
        """Hourly: start last month's billing run if it never ran, and move overdue
        accounts along. Both are idempotent, so every instance may run them."""
        with self.db.transaction() as uow:
            billing_runs.start_scheduled_run(uow, invoicing.previous_month(utcnow()))
        self.run_overdue({})

    @event_handler(BillingRunStarted)
    def work_on_started_run(self, event: BillingRunStarted) -> None:
        self._work_on(event.run_id)

    @timer(interval=float(config.BILLING_RUN_POLL_SECONDS.get()))
    def work_on_unfinished_runs(self) -> None:
        """Every instance joins the runs under way, and resumes those a crash left."""
        for run_id in billing_runs.unfinished_runs(self.db):
            self._work_on(run_id)

    def _work_on(self, run_id: str) -> None:
        # The event and the poll may both bring a run here: one set of workers is enough.
        if run_id in _runs_worked_on_here:
            return
        _runs_worked_on_here.add(run_id)
        try:
            processed = billing_runs.work_on_run(
                self.db,
                run_id,
                billing_runs.Usage(self._claim_usage_batch, self._release_usage),
                batch_size=int(config.BILLING_RUN_BATCH_SIZE.get()),
                workers=int(config.BILLING_RUN_WORKERS.get()),
            )
        finally:
            _runs_worked_on_here.discard(run_id)
        if processed:
            log.info("billing run %s: %d account(s) processed here", run_id, processed)

    @rpc
    def start_billing_run(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            run, created = billing_runs.start_run(uow, data)
        return {"run": run, "created": created}

    @rpc
    def get_billing_run(self, run_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return billing_runs.get_run(uow, run_id)

    @rpc
    def list_billing_runs(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return billing_runs.list_runs(uow, query)

    @rpc
    def get_billing_account(self, organization_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return accounts.get_billing_account(uow, organization_id, self._known_to_identity)

    def _claim_usage(self, organization_id: str, period_end: str, invoice_id: str) -> dict:
        with self.call_context.as_system():
            return self.metering.claim_usage(organization_id, period_end, invoice_id)

    def _claim_usage_batch(
        self, period_end: str, claims: list[tuple[str, str]]
    ) -> dict[str, dict[str, int]]:
        with self.call_context.as_system():
            return call(
                self.metering.claim_usage_batch,
                period_end,
                [list(claim) for claim in claims],
                timeout=CLAIM_BATCH_TIMEOUT_SECONDS,
            )

    def _release_usage(self, invoice_id: str) -> int:
        with self.call_context.as_system():
            return self.metering.release_usage(invoice_id)

    def _known_to_identity(self, organization_id: str) -> bool:
        with self.call_context.as_system():
            return accounts.organization_in_identity(self.identity, organization_id)

    def _event_types(self) -> set[str]:
        with self.call_context.as_system():
            return settings.registered_event_types(
                lambda query: call(
                    self.metering.list_event_types, query, timeout=METERING_TIMEOUT_SECONDS
                )
            )

    @rpc
    def run_overdue(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        with self.db.transaction() as uow:
            return overdue.run_overdue(uow, data)

    @rpc
    def suspended_organizations(self) -> list[str]:
        with self.db.transaction() as uow:
            return overdue.suspended_organizations(uow)

    @rpc
    def list_invoices(self, organization_id: str, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return invoicing.list_invoices(uow, organization_id, query, self._known_to_identity)

    @rpc
    def list_all_invoices(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return invoicing.list_all_invoices(uow, query)

    @rpc
    def account_ledger(self, organization_id: str, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return ledger.account_ledger(uow, organization_id, query, self._known_to_identity)

    @rpc
    def update_account(self, organization_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return accounts.update_account(uow, organization_id, data, self._known_to_identity)

    @rpc
    def get_invoice(self, organization_id: str, invoice_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return invoicing.get_invoice(uow, organization_id, invoice_id, self._known_to_identity)

    @rpc
    def payment_token(self, invoice_id: str) -> str | None:
        with self.db.transaction() as uow:
            return invoicing.payment_token(uow, invoice_id)

    @rpc
    def invoice_for_payment_link(self, token: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return invoicing.invoice_for_payment_link(uow, token)

    @rpc
    def void_invoice(self, invoice_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return invoicing.void_invoice(uow, invoice_id)

    @rpc
    def issue_credit(self, organization_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return settlement.issue_credit(uow, organization_id, data, self._known_to_identity)

    @rpc
    def list_credits(self, organization_id: str, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return settlement.list_credits(uow, organization_id, query, self._known_to_identity)

    @rpc
    def add_service(self, organization_id: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return catalog.add_service(uow, organization_id, data, self._known_to_identity)

    @rpc
    def change_service(self, service_id: str, action: str, data: dict[str, Any]) -> dict:
        with self.db.transaction() as uow:
            return catalog.change_service(uow, service_id, action, data)

    @rpc
    def list_services(self, organization_id: str, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return catalog.list_services(uow, organization_id, query, self._known_to_identity)

    @rpc
    def get_service(self, organization_id: str, service_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return catalog.get_service(uow, organization_id, service_id)

    @rpc
    def get_any_service(self, service_id: str) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return catalog.get_any_service(uow, service_id)

    @rpc
    def list_all_services(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return catalog.list_all_services(uow, query)

    @rpc
    def get_settings(self) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return settings.all_settings(uow)

    @rpc
    def update_settings(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as uow:
            return settings.update_settings(uow, data, self._event_types)
