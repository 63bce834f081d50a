"""Billing accounts: one per organization, opened when identity announces the organization."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.billing.models import BillingAccount, BillingAccountStatus
from services.billing.schemas import BillingAccountSchema
from services.billing.settings import DEFAULTS, GRACE_PERIOD_DAYS
from shared.authorization import VIEW_ORGANIZATION, authorize
from shared.errors import NotFound, ValidationFailed
from shared.ids import cuid, is_cuid
from shared.settings import get_setting
from shared.unit_of_work import UnitOfWork


def open_billing_account(uow: UnitOfWork, organization_id: str) -> bool:
    """Open the organization's account; False if it already had one (a redelivered event)."""
    if not is_cuid(organization_id):
        raise ValidationFailed("bad organization id", {"organization_id": ["not a CUID"]})
    account_id = cuid()
    grace_period_days = int(get_setting(uow, GRACE_PERIOD_DAYS, DEFAULTS[GRACE_PERIOD_DAYS]))
    inserted = uow.session.scalar(
        insert(BillingAccount)
        .values(
            id=account_id,
            organization_id=organization_id,
            grace_period_days=grace_period_days,
        )
        .on_conflict_do_nothing(index_elements=[BillingAccount.organization_id])
        .returning(BillingAccount.id)
    )
    if inserted is None:
        return False
    uow.audit(
        "billing_account.opened",
        "BillingAccount",
        account_id,
        {"organization_id": organization_id},
    )
    uow.emit(
        "billing_account.opened",
        {"billing_account_id": account_id, "organization_id": organization_id},
    )
    return True


def get_billing_account(uow: UnitOfWork, organization_id: str) -> dict[str, Any]:
    authorize(organization_id, VIEW_ORGANIZATION)
    account = uow.session.scalar(
        select(BillingAccount).where(BillingAccount.organization_id == organization_id)
    )
    if account is None:
        raise NotFound("billing account not found", {"organization_id": ["no billing account"]})
    return BillingAccountSchema().dump(account)


STATUS_EVENTS = {
    BillingAccountStatus.OVERDUE: "billing_account.overdue",
    BillingAccountStatus.SUSPENDED: "billing_account.suspended",
    BillingAccountStatus.ACTIVE: "billing_account.reactivated",
}


def change_status(
    uow: UnitOfWork, account: BillingAccount, status: BillingAccountStatus, **details: Any
) -> None:
    """Every account transition is audited and announced."""
    previous, account.status = account.status, status
    event = STATUS_EVENTS[status]
    uow.audit(event, "BillingAccount", account.id, {"from": previous.value, **details})
    uow.emit(event, {"billing_account_id": account.id, "organization_id": account.organization_id})
