"""Opening billing accounts from `organization.created`: once, however often it arrives."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from services.billing import accounts, catalog, invoicing, settlement
from services.billing.models import BillingAccount, Service
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


# --- organizations billing does not know --------------------------------------------------------

LEASE = {"type": "POS_TERMINAL", "name": "Till", "monthly_fee": 1000}
NOT_CUIDS = ["x" * 33, "c" + "0" * 32, "", "c0000000000000000000000\x00", "org/../1"]


class IdentityAnswers:
    """Stands in for identity: knows the ids it is given, and counts the questions."""

    def __init__(self, *known: str) -> None:
        self.known = set(known)
        self.asked: list[str] = []

    def __call__(self, organization_id: str) -> bool:
        self.asked.append(organization_id)
        return organization_id in self.known


def services_of(unit_of_work, organization_id: str) -> int:
    with unit_of_work("billing") as uow:
        return uow.session.scalar(
            select(func.count()).where(Service.organization_id == organization_id)
        )


def test_a_lease_to_an_organization_nobody_knows_is_not_found_and_names_it(
    unit_of_work, as_user
) -> None:
    org_id = cuid()
    identity = IdentityAnswers()
    with (
        as_user(is_staff=True),
        pytest.raises(NotFound) as refused,
        unit_of_work("billing") as uow,
    ):
        catalog.add_service(uow, org_id, LEASE, identity)
    assert org_id in refused.value.message
    assert refused.value.fields == {"organization_id": ["not found"]}
    assert identity.asked == [org_id]
    assert services_of(unit_of_work, org_id) == 0


@pytest.mark.parametrize("org_id", NOT_CUIDS)
def test_an_id_that_cannot_be_an_organization_is_not_found_without_asking(
    unit_of_work, as_user, org_id: str
) -> None:
    identity = IdentityAnswers(org_id)
    with as_user(is_staff=True):
        for act in (
            lambda uow: catalog.add_service(uow, org_id, LEASE, identity),
            lambda uow: settlement.issue_credit(
                uow, org_id, {"amount": 1, "reason": "x"}, identity
            ),
            lambda uow: catalog.list_services(uow, org_id, {}, identity),
            lambda uow: settlement.list_credits(uow, org_id, {}, identity),
            lambda uow: invoicing.list_invoices(uow, org_id, {}, identity),
            lambda uow: invoicing.get_invoice(uow, org_id, cuid(), identity),
            lambda uow: accounts.get_billing_account(uow, org_id, identity),
        ):
            with pytest.raises(NotFound) as refused, unit_of_work("billing") as uow:
                act(uow)
            assert refused.value.message.startswith("organization ")
    assert identity.asked == []


def test_a_just_created_organization_gets_its_account_before_the_event(
    unit_of_work, as_user
) -> None:
    """identity's organization.created may still be on its way: identity is asked, the
    account opened then, and the event later finds it open."""
    org_id = cuid()
    identity = IdentityAnswers(org_id)
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        service = catalog.add_service(uow, org_id, LEASE, identity)
    assert service["organization_id"] == org_id
    with unit_of_work("billing") as uow:
        assert accounts.open_billing_account(uow, org_id) is False  # the late event
    with unit_of_work("billing") as uow:
        account = accounts.get_billing_account(uow, org_id, identity)
    assert account["organization_id"] == org_id
    assert identity.asked == [org_id]  # once: the account answers from then on


def test_credits_and_reads_of_an_unknown_organization_are_not_found(unit_of_work, as_user):
    org_id = cuid()
    with as_user(is_staff=True):
        for act in (
            lambda uow: settlement.issue_credit(uow, org_id, {"amount": 5, "reason": "x"}),
            lambda uow: catalog.list_services(uow, org_id, {}, IdentityAnswers()),
            lambda uow: settlement.list_credits(uow, org_id, {}, IdentityAnswers()),
            lambda uow: invoicing.list_invoices(uow, org_id, {}, IdentityAnswers()),
        ):
            with pytest.raises(NotFound) as refused, unit_of_work("billing") as uow:
                act(uow)
            assert org_id in refused.value.message


def test_service_and_invoice_ids_of_any_shape_are_not_found(unit_of_work, as_user) -> None:
    with as_user(is_staff=True):
        for bad in NOT_CUIDS:
            with pytest.raises(NotFound), unit_of_work("billing") as uow:
                catalog.change_service(uow, bad, "suspend", {})
            with pytest.raises(NotFound), unit_of_work("billing") as uow:
                invoicing.void_invoice(uow, bad)
