"""An organization deleted (identity's `organization.deleted`): its account is closed.

At the deletion time every service it still leases (active or suspended) is cancelled,
the account is marked closed, and the final invoice is issued at once: from the first day
of that month to the deletion, services prorated to their cancellation, usage recorded
until then. A closed account is never invoiced again (billing runs skip the months from
its last), nor credited, leased to or opened again; its invoices, payments, credits and
ledger are kept and stay readable by staff, and its final invoice can still be paid.

An organization billing never had an account for gets a closed one, so a late
`organization.created` opens nothing. Idempotent: a repeated event finds the account
closed (at the first deletion time) and the final invoice issued, and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.billing import invoicing
from services.billing.models import BillingAccount, Service, ServiceStatus
from shared.authorization import require_system
from shared.ids import cuid
from shared.unit_of_work import Transactions, UnitOfWork


def close_account(
    store: Transactions,
    organization_id: str,
    deleted_at: datetime,
    claim_usage: invoicing.ClaimUsage,
    release_usage: invoicing.ReleaseUsage,
) -> dict[str, Any]:
    """Returns what happened (for the log): the final invoice's run row, or that the
    organization had no account."""
    with store.transaction() as uow:
        require_system()
        account = uow.session.scalar(
            select(BillingAccount)
            .where(BillingAccount.organization_id == organization_id)
            .with_for_update()
        )
        if account is None:
            # organization.created may come after this (or never did): a closed account
            # in its place means it is never opened.
            uow.session.execute(
                insert(BillingAccount)
                .values(id=cuid(), organization_id=organization_id, closed_at=deleted_at)
                .on_conflict_do_nothing(index_elements=[BillingAccount.organization_id])
            )
            return {"result": "no billing account", "invoice_number": None}
        if account.closed_at is None:
            _cancel_services(uow, organization_id, deleted_at)
            account.closed_at = deleted_at
            uow.audit(
                "billing_account.closed",
                "BillingAccount",
                account.id,
                {"at": deleted_at.isoformat(), "reason": "organization deleted"},
                organization_id=organization_id,
            )
        account_id, closed_at = account.id, account.closed_at
    # Crash-safe as any run: a redelivered event finishes or finds the invoice.
    return invoicing.final_invoice(
        store, account_id, organization_id, closed_at, claim_usage, release_usage
    )


def _cancel_services(uow: UnitOfWork, organization_id: str, at: datetime) -> None:
    services = uow.session.scalars(
        select(Service)
        .where(
            Service.organization_id == organization_id,
            Service.status.in_((ServiceStatus.ACTIVE, ServiceStatus.SUSPENDED)),
        )
        .with_for_update()
    ).all()
    for service in services:
        service.status, service.cancelled_at = ServiceStatus.CANCELLED, at
        uow.audit(
            "service.cancel",
            "Service",
            service.id,
            {"at": at.isoformat(), "reason": "organization deleted"},
            organization_id=organization_id,
        )
