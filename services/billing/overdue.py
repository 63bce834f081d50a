"""The daily overdue run (Kill Bill's overdue state machine, simplified):

    invoice past dueAt, unpaid           -> invoice OVERDUE, account ACTIVE -> OVERDUE
    past dueAt + gracePeriodDays, unpaid -> account SUSPENDED, its services SUSPENDED
    everything owed paid                 -> account ACTIVE, services ACTIVE (settlement)

Each transition is audited and announced. Runnable for any date, idempotent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from services.billing.accounts import change_status
from services.billing.models import (
    BillingAccount,
    BillingAccountStatus,
    Invoice,
    InvoiceStatus,
    Service,
    ServiceStatus,
)
from services.billing.schemas import OverdueRunSchema
from shared.authorization import require_staff
from shared.clock import utcnow
from shared.schemas import load
from shared.unit_of_work import UnitOfWork

UNPAID = (InvoiceStatus.ISSUED, InvoiceStatus.PARTIAL)


def run_overdue(uow: UnitOfWork, data: dict[str, Any]) -> list[dict[str, Any]]:
    require_staff()
    as_of: datetime = load(OverdueRunSchema(), data).get("as_of") or utcnow()
    late = uow.session.execute(
        select(Invoice, BillingAccount.organization_id)
        .join(BillingAccount, BillingAccount.id == Invoice.billing_account_id)
        .where(Invoice.status.in_(UNPAID), Invoice.due_at < as_of, Invoice.amount_due > 0)
        .with_for_update(of=Invoice)
    ).all()
    for invoice, organization_id in late:
        invoice.status = InvoiceStatus.OVERDUE
        uow.audit(
            "invoice.overdue",
            "Invoice",
            invoice.id,
            {"as_of": as_of.isoformat()},
            organization_id=organization_id,
        )
    oldest_due = (
        select(Invoice.billing_account_id, func.min(Invoice.due_at).label("due_at"))
        .where(Invoice.status == InvoiceStatus.OVERDUE, Invoice.amount_due > 0)
        .group_by(Invoice.billing_account_id)
        .subquery()
    )
    rows = uow.session.execute(
        select(BillingAccount, oldest_due.c.due_at)
        .join(oldest_due, oldest_due.c.billing_account_id == BillingAccount.id)
        # A closed account's final invoice may go overdue; the account has no services
        # to suspend and no one to warn, so it stays as it is.
        .where(BillingAccount.closed_at.is_(None))
        .with_for_update(of=BillingAccount)
    ).all()
    report = []
    for account, due_at in rows:
        suspend_at = due_at + timedelta(days=account.grace_period_days)
        if as_of >= suspend_at and account.status != BillingAccountStatus.SUSPENDED:
            _suspend(uow, account, as_of)
        elif account.status == BillingAccountStatus.ACTIVE:
            change_status(uow, account, BillingAccountStatus.OVERDUE)
        report.append({"organization_id": account.organization_id, "status": account.status.value})
    return report


def _suspend(uow: UnitOfWork, account: BillingAccount, as_of: datetime) -> None:
    services = uow.session.scalars(
        select(Service).where(
            Service.organization_id == account.organization_id,
            Service.status == ServiceStatus.ACTIVE,
        )
    ).all()
    for service in services:
        service.status, service.suspended_at = ServiceStatus.SUSPENDED, as_of
        service.suspended_with_account = True
    change_status(uow, account, BillingAccountStatus.SUSPENDED, services=len(services))


def suspended_organizations(uow: UnitOfWork) -> list[str]:
    return list(
        uow.session.scalars(
            select(BillingAccount.organization_id).where(
                BillingAccount.status == BillingAccountStatus.SUSPENDED
            )
        )
    )
