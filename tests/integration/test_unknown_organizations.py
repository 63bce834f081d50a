"""Staff acting on an organization that does not exist get 404 naming it, whatever the id
looks like; billing asks identity before refusing one created a moment ago; and the refusal
is one INFO line in billing's log, without a traceback."""

from __future__ import annotations

import pytest

from shared.ids import cuid, is_cuid
from shared.waiting import wait_until
from tests.integration.conftest import Person, Suite

pytestmark = pytest.mark.integration

LEASE = {"type": "POS_TERMINAL", "name": "Till", "monthly_fee": 1000}
CREDIT = {"amount": 500, "reason": "goodwill"}
# A made-up CUID, one character too many (once a 500: too long for the column), and junk.
UNKNOWN_IDS = [cuid(), cuid() + "x" * 8, "nobody-here"]


def staff_writes(org_id: str, invoice_id: str) -> list[tuple[str, dict]]:
    payment = {"invoice_id": invoice_id, "amount": 100, "method": "CASH"}
    return [
        (f"/v1/admin/organizations/{org_id}/services", LEASE),
        (f"/v1/admin/organizations/{org_id}/credits", CREDIT),
        (f"/v1/admin/organizations/{org_id}/payments", payment),
    ]


def staff_reads(org_id: str) -> list[str]:
    return [
        f"/v1/organizations/{org_id}/services",
        f"/v1/organizations/{org_id}/billing-account",
        f"/v1/organizations/{org_id}/invoices",
        f"/v1/organizations/{org_id}/invoices/{cuid()}",
        f"/v1/organizations/{org_id}/credits",
    ]


def assert_not_found_naming(response, org_id: str) -> None:
    """404 in the one error shape; billing names the organization. (An id that is not a
    CUID may already be refused by the gateway's input gate, which names no id.)"""
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert error["code"] == "not_found"
    if is_cuid(org_id):
        assert org_id in error["message"]


def rows_for(suite: Suite, org_id: str) -> list[tuple[int, int]]:
    """(services, billing accounts) billing holds for the organization."""
    return suite.sql(
        "SELECT (SELECT count(*) FROM billing.services WHERE organization_id = :o),"
        " (SELECT count(*) FROM billing.billing_accounts WHERE organization_id = :o)",
        o=org_id,
    )


def payments_for(suite: Suite, invoice_id: str) -> list[tuple[int]]:
    return suite.sql("SELECT count(*) FROM payments.payments WHERE invoice_id = :i", i=invoice_id)


@pytest.mark.parametrize("org_id", UNKNOWN_IDS)
def test_staff_writes_to_an_unknown_organization_are_404_and_change_nothing(
    suite: Suite, staff: Person, org_id: str
) -> None:
    invoice_id = cuid()
    for path, body in staff_writes(org_id, invoice_id):
        response = suite.http("POST", path, json=body, headers=staff.auth)
        assert_not_found_naming(response, org_id)
    assert rows_for(suite, org_id) == [(0, 0)]
    assert payments_for(suite, invoice_id) == [(0,)]


@pytest.mark.parametrize("org_id", UNKNOWN_IDS)
def test_staff_reads_of_an_unknown_organization_are_404(
    suite: Suite, staff: Person, org_id: str
) -> None:
    for path in staff_reads(org_id):
        assert_not_found_naming(suite.http("GET", path, headers=staff.auth), org_id)


def test_a_payment_for_an_invoice_the_organization_does_not_have_is_404(
    suite: Suite, staff: Person
) -> None:
    """Payments asks billing first: a made-up invoice would otherwise be a payment.paid
    event billing could never settle."""
    owner = suite.new_person()
    org_id = suite.new_org(owner)["id"]
    invoice_id = cuid()
    response = suite.http(
        "POST",
        f"/v1/admin/organizations/{org_id}/payments",
        json={"invoice_id": invoice_id, "amount": 100, "method": "CASH"},
        headers=staff.auth,
    )
    assert response.status_code == 404, response.text
    assert response.json()["error"]["fields"] == {"invoice_id": ["not found"]}
    assert payments_for(suite, invoice_id) == [(0,)]


def test_an_organization_whose_event_has_not_reached_billing_is_asked_about(
    suite: Suite, staff: Person
) -> None:
    """organization.created may still be on its way when staff lease a terminal to a new
    organization. Made certain here: the account the event opened is removed, as if the
    event had not arrived; billing asks identity and opens it then."""
    owner = suite.new_person()
    org_id = suite.new_org(owner)["id"]
    wait_until(lambda: rows_for(suite, org_id) == [(0, 1)], 20, "billing to open the account")
    suite.sql("DELETE FROM billing.billing_accounts WHERE organization_id = :o", o=org_id)

    response = suite.http(
        "POST", f"/v1/admin/organizations/{org_id}/services", json=LEASE, headers=staff.auth
    )

    assert response.status_code == 201, response.text
    assert rows_for(suite, org_id) == [(1, 1)]
    account = suite.http("GET", f"/v1/organizations/{org_id}/billing-account", headers=owner.auth)
    assert account.status_code == 200, account.text


def test_a_refusal_is_one_info_line_in_billing_s_log(suite: Suite, staff: Person) -> None:
    org_id = cuid()
    response = suite.http(
        "POST", f"/v1/admin/organizations/{org_id}/credits", json=CREDIT, headers=staff.auth
    )
    assert response.status_code == 404

    def lines_naming_it() -> list[str]:
        lines = suite.log_text("billing").splitlines()
        return [
            (line, lines[index + 1] if index + 1 < len(lines) else "")
            for index, line in enumerate(lines)
            if org_id in line
        ]

    logged = wait_until(lines_naming_it, 10, "billing to log the refusal")
    assert len(logged) == 1, logged
    line, following = logged[0]
    assert " INFO " in line
    assert not following.startswith("Traceback")
