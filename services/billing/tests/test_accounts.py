"""Opening billing accounts from `organization.created`: once, however often it arrives."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from services.billing import accounts
from services.billing.models import BillingAccount
from services.billing.settings import GRACE_PERIOD_DAYS
from shared.errors import NotFound, ValidationFailed
from shared.ids import cuid


def test_opening_twice_keeps_one_account_and_one_audit_row(unit_of_work) -> None:
    org_id = cuid()
    with unit_of_work("billing") as uow:
        assert accounts.open_billing_account(uow, org_id) is True
    with unit_of_work("billing") as uow:
        assert accounts.open_billing_account(uow, org_id) is False
    with unit_of_work("billing") as uow:
        account = accounts.get_billing_account(uow, org_id)
        audit = uow.tables.audit_log
        audit_rows = uow.session.scalar(
            select(func.count()).where(audit.entity_id == account["id"])
        )
        rows = uow.session.scalar(
            select(func.count()).where(BillingAccount.organization_id == org_id)
        )
    assert (rows, audit_rows) == (1, 1)
    assert account["status"] == "ACTIVE"
    assert account["balance"] == 0


def test_grace_period_comes_from_billing_settings(unit_of_work) -> None:
    with unit_of_work("billing") as uow:
        setting = uow.tables.system_setting(key=GRACE_PERIOD_DAYS, value="21")
        uow.session.merge(setting)
    org_id = cuid()
    try:
        with unit_of_work("billing") as uow:
            accounts.open_billing_account(uow, org_id)
        with unit_of_work("billing") as uow:
            assert accounts.get_billing_account(uow, org_id)["grace_period_days"] == 21
    finally:
        with unit_of_work("billing") as uow:
            model = uow.tables.system_setting
            uow.session.query(model).filter(model.key == GRACE_PERIOD_DAYS).delete()


def test_a_malformed_organization_id_is_refused(unit_of_work) -> None:
    with pytest.raises(ValidationFailed), unit_of_work("billing") as uow:
        accounts.open_billing_account(uow, "not-a-cuid")


def test_no_account_is_not_found(unit_of_work) -> None:
    with pytest.raises(NotFound), unit_of_work("billing") as uow:
        accounts.get_billing_account(uow, cuid())
