"""Billing accounts: one per organization, opened when identity announces the organization.

Billing knows which organizations exist from their accounts. Identity's
`organization.created` may still be on its way for an organization created a moment ago,
so where an account is missing billing asks identity before refusing, and opens the
account then if identity knows the organization (the event, when it comes, finds it open).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.billing.events import (
    AccountStatusChanged,
    BillingAccountOpened,
    BillingAccountOverdue,
    BillingAccountReactivated,
    BillingAccountSuspended,
)
from services.billing.models import BillingAccount, BillingAccountStatus
from services.billing.schemas import AccountUpdateSchema, BillingAccountSchema
from services.billing.settings import DEFAULTS, GRACE_PERIOD_DAYS
from shared.authorization import VIEW_BILLING, authorize, require_staff
from shared.errors import NotFound, ValidationFailed
from shared.ids import cuid, is_cuid
from shared.rpc import call
from shared.schemas import load
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
        organization_id=organization_id,
    )
    uow.emit(BillingAccountOpened(billing_account_id=account_id, organization_id=organization_id))
    return True


OrganizationLookup = Callable[[str], bool]
"""Whether identity knows an organization id (see `organization_in_identity`)."""

# Below the gateway's RPC deadline (10 s), so a silent identity is a 503 from billing's
# answer, not a gateway timeout with billing still working behind it.
IDENTITY_TIMEOUT_SECONDS = 5.0
# Ids are CUIDs; anything else is echoed back shortened and escaped.
SHOWN_ID_LENGTH = 40


def organization_not_found(organization_id: str) -> NotFound:
    shown = ascii(organization_id[:SHOWN_ID_LENGTH])[1:-1]
    return NotFound(f"organization {shown} not found", {"organization_id": ["not found"]})


def organization_in_identity(identity: Any, organization_id: str) -> bool:
    """Ask identity (an RpcProxy, called as the suite itself) whether it knows the id."""
    try:
        call(identity.get_organization, organization_id, timeout=IDENTITY_TIMEOUT_SECONDS)
    except NotFound:
        return False
    return True


def account_for(
    uow: UnitOfWork,
    organization_id: str,
    ask_identity: OrganizationLookup | None = None,
    *,
    lock: bool = False,
    open_only: bool = False,
) -> BillingAccount:
    """The organization's account, or NotFound naming the organization. Without an account
    here, `ask_identity` (when given) decides: an organization identity knows gets its
    account now. `lock` takes the account's row lock (balance changes). `open_only`: the
    account of a deleted organization is not found either (nothing new for it; its
    records are still read)."""
    if not is_cuid(organization_id):
        raise organization_not_found(organization_id)
    account = _account_row(uow, organization_id, lock)
    if account is None and ask_identity is not None and ask_identity(organization_id):
        open_billing_account(uow, organization_id)
        account = _account_row(uow, organization_id, lock)
    if account is None or (open_only and account.closed_at is not None):
        raise organization_not_found(organization_id)
    return account


def _account_row(uow: UnitOfWork, organization_id: str, lock: bool) -> BillingAccount | None:
    statement = select(BillingAccount).where(BillingAccount.organization_id == organization_id)
    return uow.session.scalar(statement.with_for_update() if lock else statement)


def get_billing_account(
    uow: UnitOfWork, organization_id: str, ask_identity: OrganizationLookup | None = None
) -> dict[str, Any]:
    """The account of an organization that exists: a deleted one's is not found, so no
    payment on account is taken for it (its ledger and invoices stay readable). Its balance
    is billing information: the seed's MEMBER does not see it."""
    authorize(organization_id, VIEW_BILLING)
    account = account_for(uow, organization_id, ask_identity, open_only=True)
    return BillingAccountSchema().dump(account)


def update_account(
    uow: UnitOfWork,
    organization_id: str,
    data: dict[str, Any],
    ask_identity: OrganizationLookup | None = None,
) -> dict[str, Any]:
    """Staff: the account's grace period (the overdue run reads it on its next run)."""
    require_staff()
    fields = load(AccountUpdateSchema(), data)
    account = account_for(uow, organization_id, ask_identity, lock=True, open_only=True)
    old = {"grace_period_days": account.grace_period_days}
    account.grace_period_days = fields["grace_period_days"]
    uow.session.flush()
    uow.audit(
        "billing_account.updated",
        "BillingAccount",
        account.id,
        {"old": old, "new": fields},
        organization_id=organization_id,
    )
    return BillingAccountSchema().dump(account)


STATUS_EVENTS: dict[BillingAccountStatus, type[AccountStatusChanged]] = {
    BillingAccountStatus.OVERDUE: BillingAccountOverdue,
    BillingAccountStatus.SUSPENDED: BillingAccountSuspended,
    BillingAccountStatus.ACTIVE: BillingAccountReactivated,
}


def change_status(
    uow: UnitOfWork, account: BillingAccount, status: BillingAccountStatus, **details: Any
) -> None:
    """Every account transition is audited and announced."""
    previous, account.status = account.status, status
    event = STATUS_EVENTS[status](
        billing_account_id=account.id, organization_id=account.organization_id
    )
    uow.audit(
        event.event_type,
        "BillingAccount",
        account.id,
        {"from": previous.value, **details},
        organization_id=account.organization_id,
    )
    uow.emit(event)
