"""A month billed end to end: services started and cancelled mid-month, metered usage,
credits, tax; totals checked against figures computed by hand. Then overdue, suspension
(terminal traffic refused), payment and reactivation, moved along by the on-demand jobs."""

from __future__ import annotations

from datetime import datetime, timedelta

import eventlet
import pytest
from nameko.standalone.events import event_dispatcher
from sqlalchemy.exc import DBAPIError

from services.payments.events import PaymentPaid
from shared.clock import utcnow
from shared.waiting import wait_until
from tests.integration.conftest import Person, Suite, text_of

pytestmark = pytest.mark.integration

NOW = utcnow()
PERIOD = NOW.strftime("%Y-%m")
NEXT_PERIOD = (NOW.replace(day=1) + timedelta(days=32)).strftime("%Y-%m")
MONTH_START = NOW.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
DAYS = ((MONTH_START + timedelta(days=32)).replace(day=1) - MONTH_START).days


# Usage must be in the past (and this month); services may start or end on any day.
USED_AT = max(MONTH_START, NOW - timedelta(hours=1)).isoformat()


def day(n: int, hour: int = 0) -> str:
    return (MONTH_START + timedelta(days=n - 1, hours=hour)).isoformat()


def lease(suite: Suite, staff: Person, org_id: str, **fields: object) -> dict:
    response = suite.http(
        "POST", f"/v1/admin/organizations/{org_id}/services", json=fields, headers=staff.auth
    )
    assert response.status_code == 201, response.text
    return response.json()


def staff_post(suite: Suite, staff: Person, path: str, body: dict) -> dict:
    response = suite.http("POST", path, json=body, headers=staff.auth)
    assert response.status_code in (200, 201), response.text
    return response.json()


def run_billing(suite: Suite, staff: Person, period: str) -> dict:
    response = suite.run_billing(staff, period)
    assert response.status_code == 200, response.text
    return response.json()


def invoices_of(suite: Suite, person: Person, org_id: str) -> list[dict]:
    response = suite.http("GET", f"/v1/organizations/{org_id}/invoices", headers=person.auth)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def detail(suite: Suite, person: Person, org_id: str, invoice_id: str) -> dict:
    response = suite.http(
        "GET", f"/v1/organizations/{org_id}/invoices/{invoice_id}", headers=person.auth
    )
    assert response.status_code == 200, response.text
    return response.json()


def report_usage(suite: Suite, owner: Person, org_id: str, events: list[dict]) -> None:
    key = suite.http(
        "POST",
        f"/v1/organizations/{org_id}/api-keys",
        headers=owner.auth,
        json={"name": "till", "scopes": ["usage:write", "usage:read"]},
    ).json()["key"]
    response = suite.http(
        "POST", "/v1/usage-events", json={"events": events}, headers={"X-API-Key": key}
    )
    assert response.status_code == 202, response.text


def pos_transactions(suite: Suite, owner: Person, org_id: str) -> int:
    rows = suite.http(
        "GET",
        f"/v1/organizations/{org_id}/usage",
        headers=owner.auth,
        params={"from": MONTH_START.isoformat(), "to": (NOW + timedelta(days=1)).isoformat()},
    ).json()["rows"]
    return sum(r["quantity"] for r in rows if r["event_type"] == "pos.transaction")


def test_a_month_billed_to_the_cent_once_and_immutably(suite: Suite, staff: Person) -> None:
    settings = {
        "invoice.tax_rate_basis_points": 1500,
        "prices": {"pos.transaction": {"included": 1000, "unit_price": 2}},
    }
    assert (
        suite.http(
            "PATCH", "/v1/admin/billing-settings", json=settings, headers=staff.auth
        ).status_code
        == 200
    )

    a_owner, b_owner, c_owner = suite.new_person(), suite.new_person(), suite.new_person()
    a, b, c = suite.new_org(a_owner), suite.new_org(b_owner), suite.new_org(c_owner)
    wait_until(
        lambda: all(
            suite.http("GET", f"/v1/organizations/{o['id']}", headers=p.auth).json()[
                "billing_account"
            ]
            for o, p in ((a, a_owner), (b, b_owner), (c, c_owner))
        ),
        20,
        "billing accounts",
    )

    lease(
        suite,
        staff,
        a["id"],
        type="POS_TERMINAL",
        name="Till 1",
        hardware_serial=f"SN-{a['id']}",
        monthly_fee=2500,
        activated_at=day(1),
    )
    lease(
        suite,
        staff,
        a["id"],
        type="POS_MAINTENANCE",
        name="Care plan",
        monthly_fee=1000,
        activated_at=day(16, hour=15),
    )
    report_usage(
        suite,
        a_owner,
        a["id"],
        [
            {
                "event_type": "pos.transaction",
                "quantity": 1000,
                "idempotency_key": "a1",
                "timestamp": USED_AT,
            },
            {
                "event_type": "pos.transaction",
                "quantity": 250,
                "idempotency_key": "a2",
                "timestamp": USED_AT,
            },
            {
                "event_type": "pos.transaction",
                "quantity": 1000,
                "idempotency_key": "a1",
                "timestamp": USED_AT,
            },
        ],
    )
    b_old = lease(
        suite,
        staff,
        b["id"],
        type="POS_TERMINAL",
        name="Old till",
        monthly_fee=3000,
        activated_at=(MONTH_START - timedelta(days=20)).isoformat(),
    )
    staff_post(suite, staff, f"/v1/admin/services/{b_old['id']}/cancel", {"at": day(21, hour=9)})
    b_short = lease(
        suite,
        staff,
        b["id"],
        type="POS_TERMINAL",
        name="Loan till",
        monthly_fee=1999,
        activated_at=day(4, hour=10),
    )
    staff_post(suite, staff, f"/v1/admin/services/{b_short['id']}/cancel", {"at": day(11)})
    staff_post(
        suite,
        staff,
        f"/v1/admin/organizations/{b['id']}/credits",
        {"amount": 700, "reason": "Outage"},
    )
    wait_until(lambda: pos_transactions(suite, a_owner, a["id"]) == 1250, 20, "usage to be counted")

    # Two runs at once, as two billing instances might: one invoice per account.
    pool = eventlet.GreenPool()
    runs = [pool.spawn(run_billing, suite, staff, PERIOD) for _ in range(2)]
    for run in runs:
        run.wait()

    # By hand: A = 2500 + 1000 x 15/30 (from the 16th) + (1250 - 1000) x 2 = 3500; tax 15% = 525.
    [a_invoice] = invoices_of(suite, a_owner, a["id"])
    a_detail = detail(suite, a_owner, a["id"], a_invoice["id"])
    expected_care = round(1000 * (DAYS - 15) / DAYS)
    assert sorted(
        (i["description"], i["quantity"], i["unit_price"], i["total"])
        for i in a_detail["line_items"]
    ) == sorted(
        [
            (
                f"Care plan (pos maintenance, {DAYS - 15} of {DAYS} days)",
                1,
                expected_care,
                expected_care,
            ),
            ("Till 1 (pos terminal)", 1, 2500, 2500),
            ("Usage: pos.transaction, 1,250 (1,000 included)", 250, 2, 500),
        ]
    )
    subtotal = 3000 + expected_care
    tax = int(subtotal * 0.15 + 0.5)
    assert (a_detail["subtotal"], a_detail["tax"], a_detail["total"]) == (
        subtotal,
        tax,
        subtotal + tax,
    )
    assert (a_detail["amount_paid"], a_detail["amount_due"], a_detail["status"]) == (
        0,
        subtotal + tax,
        "ISSUED",
    )
    assert a_detail["invoice_number"].startswith(f"INV-{NOW.year}-")
    assert len(a_detail["invoice_number"]) == len("INV-2026-000123")

    # B = 3000 x 20/30 (to the 21st) + 1999 x 7/30 (4th to 11th) = 2000 + 466.43 -> 466.
    [b_invoice] = invoices_of(suite, b_owner, b["id"])
    b_detail = detail(suite, b_owner, b["id"], b_invoice["id"])
    old_part, short_part = round(3000 * 20 / DAYS), int(1999 * 7 / DAYS + 0.5)
    assert sorted(i["total"] for i in b_detail["line_items"]) == sorted([old_part, short_part])
    b_subtotal = old_part + short_part
    b_total = b_subtotal + int(b_subtotal * 0.15 + 0.5)
    assert (b_detail["total"], b_detail["amount_paid"], b_detail["amount_due"]) == (
        b_total,
        700,
        b_total - 700,
    )
    assert b_detail["status"] == "PARTIAL"
    account = suite.http(
        "GET", f"/v1/organizations/{b['id']}/billing-account", headers=b_owner.auth
    ).json()
    assert account["balance"] == 700 - b_total

    assert invoices_of(suite, c_owner, c["id"]) == []  # nothing leased, nothing used

    # The same period again creates nothing; a late event goes to the next invoice.
    report_usage(
        suite,
        a_owner,
        a["id"],
        [
            {
                "event_type": "pos.transaction",
                "quantity": 1500,
                "idempotency_key": "late",
                "timestamp": USED_AT,
            }
        ],
    )
    wait_until(lambda: pos_transactions(suite, a_owner, a["id"]) == 2750, 20, "the late event")
    run_billing(suite, staff, PERIOD)
    assert [i["id"] for i in invoices_of(suite, a_owner, a["id"])] == [a_invoice["id"]]
    assert detail(suite, a_owner, a["id"], a_invoice["id"]) == a_detail
    run_billing(suite, staff, NEXT_PERIOD)
    next_invoice = next(
        i for i in invoices_of(suite, a_owner, a["id"]) if i["id"] != a_invoice["id"]
    )
    next_lines = {
        i["description"]: i["total"]
        for i in detail(suite, a_owner, a["id"], next_invoice["id"])["line_items"]
    }
    assert next_lines["Usage: pos.transaction, 1,500 (1,000 included)"] == 1000
    by_invoice = suite.http(
        "GET",
        f"/v1/organizations/{a['id']}/usage",
        headers=a_owner.auth,
        params={
            "from": MONTH_START.isoformat(),
            "to": (NOW + timedelta(days=1)).isoformat(),
            "group_by": "invoice",
        },
    ).json()["rows"]
    assert {
        (r["invoice_id"], r["quantity"]) for r in by_invoice if r["event_type"] == "pos.transaction"
    } == {(a_invoice["id"], 1250), (next_invoice["id"], 1500)}

    # The database itself refuses to change a finalized invoice; payment state may move.
    for statement in (
        "UPDATE billing.invoices SET total = total + 1 WHERE id = :id",
        "UPDATE billing.invoices SET invoice_number = 'INV-0000-000000' WHERE id = :id",
        "UPDATE billing.invoice_line_items SET total = 0 WHERE invoice_id = :id",
        "DELETE FROM billing.invoices WHERE id = :id",
    ):
        with pytest.raises(DBAPIError, match="finalized"):
            suite.sql(statement, id=a_invoice["id"])
    suite.sql(
        "UPDATE billing.invoices SET amount_paid = amount_paid WHERE id = :id", id=a_invoice["id"]
    )

    numbers = sorted(
        int(n.rsplit("-", 1)[1])
        for (n,) in suite.sql(
            "SELECT invoice_number FROM billing.invoices WHERE invoice_number LIKE :y",
            y=f"INV-{NOW.year}-%",
        )
    )
    assert numbers == list(range(1, len(numbers) + 1)), "numbers are unique and gapless"

    page = suite.http(
        "GET", f"/v1/organizations/{a['id']}/invoices/{a_invoice['id']}/html", headers=a_owner.auth
    )
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert a_detail["invoice_number"] in page.text and "Care plan" in page.text


def test_overdue_then_suspended_then_paid_then_reactivated(suite: Suite, staff: Person) -> None:
    owner = suite.new_person()
    accounts_email = f"accounts-{owner.user_id}@example.co.zw"
    org = suite.new_org(owner, email=accounts_email)
    wait_until(
        lambda: suite.http("GET", f"/v1/organizations/{org['id']}", headers=owner.auth).json()[
            "billing_account"
        ],
        20,
        "account",
    )
    service = lease(
        suite,
        staff,
        org["id"],
        type="POS_TERMINAL",
        name="Till",
        monthly_fee=5000,
        activated_at=day(1),
    )
    key = suite.http(
        "POST",
        f"/v1/organizations/{org['id']}/api-keys",
        headers=owner.auth,
        json={"name": "till", "scopes": ["pos:read", "usage:write"]},
    ).json()["key"]
    terminal = {"X-API-Key": key}
    run_billing(suite, staff, PERIOD)
    [invoice] = invoices_of(suite, owner, org["id"])
    due_at = datetime.fromisoformat(invoice["due_at"])
    payment_link_token = suite.link_token(accounts_email, invoice["invoice_number"])
    assert payment_link_token == detail(suite, owner, org["id"], invoice["id"])["payment_token"]

    def status() -> tuple[str, str]:
        account = suite.http(
            "GET", f"/v1/organizations/{org['id']}/billing-account", headers=owner.auth
        ).json()
        return account["status"], detail(suite, owner, org["id"], invoice["id"])["status"]

    staff_post(
        suite, staff, "/v1/admin/overdue-runs", {"as_of": (due_at - timedelta(hours=1)).isoformat()}
    )
    assert status() == ("ACTIVE", "ISSUED")
    staff_post(
        suite, staff, "/v1/admin/overdue-runs", {"as_of": (due_at + timedelta(days=1)).isoformat()}
    )
    assert status() == ("OVERDUE", "OVERDUE")
    assert "past its due date" in text_of(suite.mail(accounts_email, "overdue"))
    assert suite.http("GET", "/v1/terminal/whoami", headers=terminal).status_code == 200

    staff_post(
        suite, staff, "/v1/admin/overdue-runs", {"as_of": (due_at + timedelta(days=15)).isoformat()}
    )
    assert status() == ("SUSPENDED", "OVERDUE")
    assert "refused" in text_of(suite.mail(accounts_email, "services are suspended"))
    services = suite.http(
        "GET", f"/v1/organizations/{org['id']}/services", headers=owner.auth
    ).json()["items"]
    assert [s["status"] for s in services if s["id"] == service["id"]] == ["SUSPENDED"]
    refused = wait_until(
        lambda: (
            (r := suite.http("GET", "/v1/terminal/whoami", headers=terminal)).status_code == 402
            and r.json()
        ),
        10,
        "the gateway to refuse the suspended organization's terminal",
    )
    assert refused["error"]["code"] == "payment_required"
    usage = suite.http(
        "POST",
        "/v1/usage-events",
        headers=terminal,
        json={"event_type": "pos.transaction", "idempotency_key": "s"},
    )
    assert usage.status_code == 402
    signed_in = suite.sign_in(owner.email)  # people can still sign in, see and pay
    assert (
        suite.http(
            "GET", f"/v1/organizations/{org['id']}/invoices", headers=signed_in.auth
        ).status_code
        == 200
    )

    payments = f"/v1/admin/organizations/{org['id']}/payments"
    first = staff_post(
        suite, staff, payments, {"invoice_id": invoice["id"], "amount": 1000, "method": "CASH"}
    )
    wait_until(
        lambda: detail(suite, owner, org["id"], invoice["id"])["amount_paid"] == 1000,
        20,
        "first payment",
    )
    assert status() == ("SUSPENDED", "OVERDUE")
    rest = invoice["amount_due"] - 1000 + 250  # 250 more than owed: becomes credit
    second = staff_post(
        suite,
        staff,
        payments,
        {
            "invoice_id": invoice["id"],
            "amount": rest,
            "method": "BANK_TRANSFER",
            "reference": "FT-1",
        },
    )
    assert (second["reference"], first["reference"]) == ("FT-1", None)
    wait_until(lambda: status() == ("ACTIVE", "PAID"), 20, "settlement and reactivation")
    assert invoice["invoice_number"] in suite.mail(accounts_email, "Receipt")["Subject"]
    account = suite.http(
        "GET", f"/v1/organizations/{org['id']}/billing-account", headers=owner.auth
    ).json()
    assert account["balance"] == 250
    wait_until(
        lambda: suite.http("GET", "/v1/terminal/whoami", headers=terminal).status_code == 200,
        10,
        "the gateway to admit the organization again",
    )
    services = suite.http(
        "GET", f"/v1/organizations/{org['id']}/services", headers=owner.auth
    ).json()["items"]
    assert [s["status"] for s in services if s["id"] == service["id"]] == ["ACTIVE"]

    # A repeated payment.paid changes nothing.
    dispatch = event_dispatcher({"AMQP_URI": suite.env.amqp_uri})
    repeat = PaymentPaid(
        payment_id=first["id"],
        invoice_id=invoice["id"],
        organization_id=org["id"],
        billing_account_id=account["id"],
        amount=1000,
        method="CASH",
    )
    dispatch(PaymentPaid.source, PaymentPaid.event_type, repeat.to_payload())
    wait_until(
        lambda: "already counted" in suite.log_text("billing"), 20, "billing to see the repeat"
    )
    assert detail(suite, owner, org["id"], invoice["id"])["amount_paid"] == invoice["total"]
    assert (
        suite.http(
            "GET", f"/v1/organizations/{org['id']}/billing-account", headers=owner.auth
        ).json()["balance"]
        == 250
    )


def test_a_retried_write_with_the_same_idempotency_key_counts_once(
    suite: Suite, staff: Person
) -> None:
    owner = suite.new_person()
    org = suite.new_org(owner)
    wait_until(
        lambda: suite.http("GET", f"/v1/organizations/{org['id']}", headers=owner.auth).json()[
            "billing_account"
        ],
        20,
        "account",
    )
    path = f"/v1/admin/organizations/{org['id']}/credits"
    body = {"amount": 1500, "reason": "Outage on 3 November"}
    first = suite.http("POST", path, json=body, headers={**staff.auth, "Idempotency-Key": "cr-1"})
    again = suite.http("POST", path, json=body, headers={**staff.auth, "Idempotency-Key": "cr-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = suite.http("POST", path, json=body, headers={**staff.auth, "Idempotency-Key": "cr-2"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    credits = suite.http("GET", f"/v1/organizations/{org['id']}/credits", headers=owner.auth).json()
    assert sorted(c["id"] for c in credits["items"]) == sorted(
        [first.json()["id"], other.json()["id"]]
    )
    account = suite.http(
        "GET", f"/v1/organizations/{org['id']}/billing-account", headers=owner.auth
    ).json()
    assert account["balance"] == 3000


def test_two_runs_started_at_once_are_one_job_that_invoices_each_account_once(
    suite: Suite, staff: Person
) -> None:
    """Staff start a month twice at once: one job, answered at once with its id; every
    account invoiced once, numbered and emailed; progress reaches the total."""
    month_start = (MONTH_START - timedelta(days=80)).replace(day=1)
    period = month_start.strftime("%Y-%m")
    teams = []
    for _ in range(3):
        owner = suite.new_person()
        org_id = suite.new_org(owner)["id"]
        wait_until(
            lambda o=org_id, p=owner: suite.http(
                "GET", f"/v1/organizations/{o}", headers=p.auth
            ).json()["billing_account"],
            20,
            "the billing account",
        )
        lease(
            suite,
            staff,
            org_id,
            type="POS_TERMINAL",
            name="Till",
            monthly_fee=2000,
            activated_at=month_start.isoformat(),
        )
        teams.append((owner, org_id))

    pool = eventlet.GreenPool()
    starting = [
        pool.spawn(
            suite.http,
            "POST",
            "/v1/admin/billing-runs",
            json={"period": period},
            headers=staff.auth,
        )
        for _ in range(2)
    ]
    started = [each.wait() for each in starting]
    assert [response.status_code for response in started] == [202, 202], started[0].text
    [run_id] = {response.json()["id"] for response in started}
    assert {response.headers["Location"] for response in started} == {
        f"/v1/admin/billing-runs/{run_id}"
    }

    seen_done = []

    def finished() -> dict | None:
        progress = suite.http("GET", f"/v1/admin/billing-runs/{run_id}", headers=staff.auth)
        assert progress.status_code == 200, progress.text
        body = progress.json()
        seen_done.append(body["done"])
        return body if body["status"] in ("COMPLETED", "FAILED") else None

    run = wait_until(finished, 120, "the billing run to finish")
    assert (run["status"], run["failed"], run["failures"]) == ("COMPLETED", 0, [])
    assert run["done"] == run["total"] >= 3
    assert seen_done == sorted(seen_done), "progress only moves forward"
    assert run["started_at"] and run["finished_at"] >= run["started_at"]

    for owner, org_id in teams:
        [invoice] = [
            i
            for i in invoices_of(suite, owner, org_id)
            if i["period_start"].startswith(month_start.date().isoformat())
        ]
        assert invoice["invoice_number"].startswith(f"INV-{NOW.year}-")
        assert invoice["subtotal"] == 2000
        suite.mail(owner.email, invoice["invoice_number"])

    listed = suite.http("GET", "/v1/admin/billing-runs", headers=staff.auth)
    assert listed.status_code == 200, listed.text
    assert run_id in [each["id"] for each in listed.json()["items"]]
    owner = teams[0][0]
    assert (
        suite.http("GET", f"/v1/admin/billing-runs/{run_id}", headers=owner.auth).status_code == 403
    )
