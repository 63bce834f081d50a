"""Reading one leased service: a member of its organization may; to anyone asking for it
under another organization it does not exist."""

from __future__ import annotations

import pytest

from services.billing import catalog
from shared.authorization import MemberRole
from shared.errors import Forbidden, NotFound
from shared.ids import cuid

LEASE = {"type": "POS_TERMINAL", "name": "Till 1", "monthly_fee": 1500}
NOT_CUIDS = ["x" * 33, "c" + "0" * 32, "", "c0000000000000000000000\x00", "svc/../1"]


def leased(unit_of_work, as_user) -> tuple[str, str]:
    """A new organization (known to identity) and a service leased to it."""
    org_id = cuid()
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        service = catalog.add_service(uow, org_id, LEASE, lambda _: True)
    return org_id, service["id"]


def test_a_member_reads_a_service_of_their_organization(unit_of_work, as_user) -> None:
    org_id, service_id = leased(unit_of_work, as_user)
    with as_user(org_id, MemberRole.MEMBER), unit_of_work("billing") as uow:
        service = catalog.get_service(uow, org_id, service_id)
    assert (service["id"], service["organization_id"]) == (service_id, org_id)
    assert (service["name"], service["monthly_fee"], service["status"]) == (
        "Till 1", 1500, "ACTIVE",
    )  # fmt: skip
    assert service["pending_terms"] is None


def test_billing_members_only_view_and_pay_invoices_not_services(unit_of_work, as_user) -> None:
    org_id, service_id = leased(unit_of_work, as_user)
    with (
        as_user(org_id, MemberRole.BILLING),
        pytest.raises(Forbidden),
        unit_of_work("billing") as uow,
    ):
        catalog.get_service(uow, org_id, service_id)


def test_another_organizations_service_is_not_found_naming_service_id(
    unit_of_work, as_user
) -> None:
    _, theirs = leased(unit_of_work, as_user)
    mine, _ = leased(unit_of_work, as_user)
    for caller in (as_user(mine, MemberRole.OWNER), as_user(is_staff=True)):
        with caller, pytest.raises(NotFound) as refused, unit_of_work("billing") as uow:
            catalog.get_service(uow, mine, theirs)
        assert refused.value.fields == {"service_id": ["not found"]}


def test_asking_under_an_organization_not_ones_own_is_not_found(unit_of_work, as_user) -> None:
    org_id, service_id = leased(unit_of_work, as_user)
    with (
        as_user(cuid(), MemberRole.OWNER),
        pytest.raises(NotFound) as refused,
        unit_of_work("billing") as uow,
    ):
        catalog.get_service(uow, org_id, service_id)
    assert refused.value.fields == {"organization_id": ["not found"]}


@pytest.mark.parametrize("service_id", NOT_CUIDS)
def test_a_malformed_service_id_is_not_found_naming_it(
    unit_of_work, as_user, service_id: str
) -> None:
    org_id, _ = leased(unit_of_work, as_user)
    with (
        as_user(org_id, MemberRole.MEMBER),
        pytest.raises(NotFound) as refused,
        unit_of_work("billing") as uow,
    ):
        catalog.get_service(uow, org_id, service_id)
    assert refused.value.fields == {"service_id": ["not found"]}
