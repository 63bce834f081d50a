"""CVT's staff operate the business through the API, over real HTTP: one request id leads
from the audit trail to the emails it caused; the audit chain shows tampering; emails that
failed while SMTP was away are resent by staff; a fee change waits for the next period; a
deleted organization gets its final invoice and no other; BILLING and MEMBER see what the
seed's words give them; staff see every invoice, service and ledger line; staff disable
and re-enable people, who keep their own name up to date."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import date

import pytest

from shared import dead_letters
from shared.money import format_cents, prorate
from shared.waiting import wait_until
from tests.integration.back_office_helpers import (
    DAYS,
    MAIL_SECONDS,
    MONTH_START,
    NEXT_MONTH_START,
    NEXT_PERIOD,
    PERIOD,
    Team,
    audit_verify,
    ids,
    invoice_detail,
    invoice_lines,
    issue_credit,
    items,
    lease,
    mails_about,
    new_team,
    organization,
    recipients,
    run_billing,
    service_line,
    wait_for_mail_about,
)
from tests.integration.conftest import PASSWORD, Person, Suite

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def team(suite: Suite) -> Team:
    return new_team(suite)


def test_staff_follow_one_request_id_from_the_audit_trail_to_the_emails_it_caused(
    suite: Suite, staff: Person, team: Team
) -> None:
    request_id = f"bo-{uuid.uuid4().hex}"
    issued = issue_credit(suite, staff, team.org_id, 1234, request_id)
    assert issued.status_code == 201, issued.text
    assert issued.headers["X-Request-Id"] == request_id
    credit_id = issued.json()["id"]

    trail = items(suite, staff, "/v1/admin/audit", request_id=request_id)
    assert trail and {row["request_id"] for row in trail} == {request_id}
    [row] = [r for r in trail if r["action"] == "credit.issued"]
    assert (row["service"], row["entity_type"], row["entity_id"]) == (
        "billing",
        "Credit",
        credit_id,
    )
    assert (row["organization_id"], row["actor_id"]) == (team.org_id, staff.user_id)
    assert row["metadata"]["amount"] == 1234

    # The email goes out after the request has answered: the event carries the request id.
    def sent() -> list[dict]:
        logged = items(suite, staff, "/v1/admin/emails", request_id=request_id)
        return logged if logged and all(e["status"] == "SENT" for e in logged) else []

    [email] = wait_until(sent, MAIL_SECONDS, "the credit email to be logged as SENT")
    people = {team.email, team.owner.email, team.billing.email}
    assert recipients(email) == people
    assert team.member.email not in recipients(email)
    assert (email["request_id"], email["organization_id"]) == (request_id, team.org_id)
    shown = suite.http("GET", f"/v1/admin/emails/{email['id']}", headers=staff.auth)
    assert shown.status_code == 200, shown.text
    assert shown.json()["id"] == email["id"] and shown.json()["status"] == "SENT"
    assert format_cents(1234) in shown.json()["text"], "staff read what was sent"
    for address in people:
        message = wait_for_mail_about(suite, address, "credit")
        assert format_cents(1234) in message.get_body(("plain",)).get_content()
        assert message.get_body(("html",)) is not None, "billing mail has an HTML part"
    assert mails_about(suite, team.member.email, "credit") == []

    # The organization's OWNER sees its own trail; a MEMBER may not; others do not see it.
    mine = items(suite, team.owner, f"/v1/organizations/{team.org_id}/audit", request_id=request_id)
    assert row["id"] in ids(mine)
    assert {r["organization_id"] for r in mine} == {team.org_id}
    as_member = suite.http(
        "GET", f"/v1/organizations/{team.org_id}/audit", headers=team.member.auth
    )
    assert as_member.status_code == 403, as_member.text
    outsider = suite.new_person()
    organization(suite, outsider)
    as_outsider = suite.http("GET", f"/v1/organizations/{team.org_id}/audit", headers=outsider.auth)
    assert as_outsider.status_code == 404, as_outsider.text


def verify_output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def test_the_verify_command_reports_a_tampered_audit_row(
    suite: Suite, staff: Person, team: Team
) -> None:
    issued = issue_credit(suite, staff, team.org_id, 4321)
    assert issued.status_code == 201, issued.text
    [(seq, original)] = suite.sql(
        "SELECT seq, metadata::text FROM billing.audit_logs "
        "WHERE action = 'credit.issued' AND entity_id = :id",
        id=issued.json()["id"],
    )
    clean = audit_verify(suite)
    assert clean.returncode == 0, verify_output(clean)
    assert "billing" in clean.stdout

    suite.sql(
        "UPDATE billing.audit_logs SET metadata = jsonb_set(metadata, '{amount}', '1') "
        "WHERE seq = :seq",
        seq=seq,
    )
    try:
        tampered = audit_verify(suite)
        assert tampered.returncode != 0, verify_output(tampered)
        [billing_line] = [
            line for line in tampered.stdout.splitlines() if line.split()[:1] == ["billing"]
        ]
        assert str(seq) in billing_line.split(), tampered.stdout
        only_billing = audit_verify(suite, "--service", "billing")
        assert only_billing.returncode != 0, verify_output(only_billing)
        only_identity = audit_verify(suite, "--service", "identity")
        assert only_identity.returncode == 0, verify_output(only_identity)
    finally:
        suite.sql(
            "UPDATE billing.audit_logs SET metadata = CAST(:original AS jsonb) WHERE seq = :seq",
            original=original,
            seq=seq,
        )
    restored = audit_verify(suite)
    assert restored.returncode == 0, verify_output(restored)


def parked_ids(suite: Suite) -> set[str]:
    return {letter.id for letter in dead_letters.list_parked(suite.env.amqp_uri, "notifications")}


def test_emails_that_failed_while_smtp_was_away_are_resent_by_staff(
    suite: Suite, staff: Person
) -> None:
    owner = suite.new_person()
    org_id, address = organization(suite, owner)
    parked_before = parked_ids(suite)
    request_id = f"bo-smtp-{uuid.uuid4().hex}"
    suite.supervisor.stop("mailsink")
    try:
        issued = issue_credit(suite, staff, org_id, 999, request_id)
        assert issued.status_code == 201, issued.text
        # Parked: retried after growing pauses and given up on; no attempt is left to come.
        [letter] = wait_until(
            lambda: [
                m
                for m in dead_letters.list_parked(suite.env.amqp_uri, "notifications")
                if org_id in m.body
            ],
            60,
            "the credit email's event to be parked",
        )
        failed = items(suite, staff, "/v1/admin/emails", status="FAILED", request_id=request_id)
        assert failed, "the failed email is logged"
        for email in failed:
            assert email["status"] == "FAILED"
            assert email["attempts"] > 1, email
            assert "ConnectionRefusedError" in email["error_message"], email
            assert address in recipients(email)
        by_status = items(suite, staff, "/v1/admin/emails", status="FAILED", recipient=address)
        assert set(ids(failed)) <= set(ids(by_status))
        assert {e["status"] for e in by_status} == {"FAILED"}
    finally:
        suite.supervisor.start("mailsink")
        suite.supervisor.wait_listening("mailsink")
    # Staff resend instead; the parked event is dropped so no replay sends it again. Emails
    # of anything else parked meanwhile get their chance again.
    assert dead_letters.drop(suite.env.amqp_uri, "notifications", letter.id) == 1
    for other in parked_ids(suite) - parked_before:
        dead_letters.replay(suite.env.amqp_uri, "notifications", other)

    resend_request = f"bo-resend-{uuid.uuid4().hex}"
    for old in failed:
        answer = suite.http(
            "POST",
            f"/v1/admin/emails/{old['id']}/resend",
            headers={**staff.auth, "X-Request-Id": resend_request},
        )
        assert answer.status_code in (200, 201), answer.text
        new_id = answer.json()["id"]
        assert new_id != old["id"]

        def resent(new_id: str = new_id) -> dict | None:
            shown = suite.http("GET", f"/v1/admin/emails/{new_id}", headers=staff.auth)
            assert shown.status_code == 200, shown.text
            return shown.json() if shown.json()["status"] == "SENT" else None

        new = wait_until(resent, MAIL_SECONDS, "the resent email to be SENT")
        assert new["resent_from_id"] == old["id"]
        assert recipients(new) == recipients(old)
        still = suite.http("GET", f"/v1/admin/emails/{old['id']}", headers=staff.auth).json()
        assert still["status"] == "FAILED", "the failed attempt stays on record"

    wait_for_mail_about(suite, address, "credit")
    assert len(mails_about(suite, address, "credit")) == 1, "the email arrives once"
    audited = items(suite, staff, "/v1/admin/audit", request_id=resend_request)
    assert {r["service"] for r in audited} == {"notifications"}, "staff's resend is audited"


def test_a_fee_change_shows_on_the_next_invoice_and_not_the_current_one(
    suite: Suite, staff: Person
) -> None:
    owner = suite.new_person()
    org_id, _ = organization(suite, owner)
    service = lease(suite, staff, org_id, 4000)
    changed = suite.http(
        "PATCH",
        f"/v1/admin/services/{service['id']}",
        json={"monthly_fee": 6500},
        headers=staff.auth,
    )
    assert changed.status_code == 200, changed.text
    [change] = [
        r
        for r in items(suite, staff, "/v1/admin/audit", entity_id=service["id"])
        if r["action"] not in ("service.added",)
    ]
    assert (change["service"], change["organization_id"]) == ("billing", org_id)
    recorded = json.dumps(change["metadata"])
    assert "4000" in recorded and "6500" in recorded, "the change is audited with old and new"

    run_billing(suite, staff, PERIOD)
    [current] = items(suite, owner, f"/v1/organizations/{org_id}/invoices")
    assert (
        service_line(invoice_detail(suite, owner, org_id, current["id"]), service["id"])["total"]
        == 4000
    ), "this month is billed at the old fee"

    run_billing(suite, staff, NEXT_PERIOD)
    [following] = [
        i
        for i in items(suite, owner, f"/v1/organizations/{org_id}/invoices")
        if i["id"] != current["id"]
    ]
    assert following["period_start"].startswith(NEXT_MONTH_START.date().isoformat())
    assert (
        service_line(invoice_detail(suite, owner, org_id, following["id"]), service["id"])["total"]
        == 6500
    ), "next month is billed at the new fee"


def test_a_deleted_organization_is_billed_exactly_once_more_and_never_again(
    suite: Suite, staff: Person
) -> None:
    owner = suite.new_person()
    org_id, address = organization(suite, owner)
    service = lease(suite, staff, org_id, 3100)
    deleted = suite.http("DELETE", f"/v1/organizations/{org_id}", headers=owner.auth)
    assert deleted.status_code == 204, deleted.text

    final = wait_until(
        lambda: items(suite, staff, "/v1/admin/invoices", organization_id=org_id),
        30,
        "the final invoice of the deleted organization",
    )
    [invoice] = final
    assert invoice["status"] == "ISSUED" and invoice["invoice_number"]
    assert invoice["period_start"].startswith(MONTH_START.date().isoformat())
    # Emailed where the organization's billing mail went the moment it was deleted.
    emailed = suite.mail(address, f"Invoice {invoice['invoice_number']} from CVT")
    assert owner.email in emailed["To"]
    assert format_cents(invoice["amount_due"]) in emailed["Subject"]
    shown = suite.http("GET", f"/v1/admin/services/{service['id']}", headers=staff.auth)
    assert shown.status_code == 200, shown.text
    assert shown.json()["status"] == "CANCELLED"
    # Billed from the 1st to the day of the deletion (exclusive), as any cancellation.
    days = (date.fromisoformat(shown.json()["cancelled_at"][:10]) - MONTH_START.date()).days
    assert invoice_lines(suite, invoice["id"]) == {service["id"]: prorate(3100, days, DAYS)}

    run_billing(suite, staff, PERIOD)
    run_billing(suite, staff, NEXT_PERIOD)
    assert ids(items(suite, staff, "/v1/admin/invoices", organization_id=org_id)) == [invoice["id"]]
    again = suite.http(
        "POST",
        f"/v1/admin/organizations/{org_id}/services",
        json={"type": "POS_TERMINAL", "name": "Till", "monthly_fee": 100},
        headers=staff.auth,
    )
    assert again.status_code == 404, again.text
    assert issue_credit(suite, staff, org_id, 100).status_code == 404


def test_billing_and_member_roles_hold_as_the_seed_words_them(
    suite: Suite, staff: Person, team: Team
) -> None:
    # More than the credits the other tests gave this organization: the invoice stays due.
    lease(suite, staff, team.org_id, 20000, name="Role till")
    run_billing(suite, staff, PERIOD)
    [invoice] = items(suite, team.owner, f"/v1/organizations/{team.org_id}/invoices")
    org = f"/v1/organizations/{team.org_id}"
    usage = {"from": MONTH_START.isoformat(), "to": NEXT_MONTH_START.isoformat()}

    def status(person: Person, method: str, path: str, **kwargs: object) -> int:
        return suite.http(method, org + path, headers=person.auth, **kwargs).status_code

    billing, member = team.billing, team.member
    assert status(billing, "GET", "/services") == 403
    assert status(billing, "GET", "/usage", params=usage) == 403
    assert status(billing, "GET", "/invoices") == 200
    assert status(billing, "GET", f"/invoices/{invoice['id']}") == 200
    assert status(billing, "GET", "/billing-account") == 200
    assert status(billing, "GET", "/payments") == 200
    assert status(billing, "GET", "/ledger") == 200
    paid = suite.http(
        "POST",
        f"{org}/invoices/{invoice['id']}/payments",
        json={"method": "visa"},
        headers=billing.auth,
    )
    assert paid.status_code == 201, paid.text

    assert status(member, "GET", "/services") == 200
    assert status(member, "GET", "/usage", params=usage) == 200
    assert status(member, "GET", "/invoices") == 403
    assert status(member, "GET", f"/invoices/{invoice['id']}") == 403
    assert status(member, "GET", "/billing-account") == 403
    assert status(member, "GET", "/ledger") == 403
    assert status(member, "GET", "/payments") == 403
    assert (
        status(member, "POST", f"/invoices/{invoice['id']}/payments", json={"method": "visa"})
        == 403
    )

    as_member = suite.http("GET", org, headers=member.auth)
    assert as_member.status_code == 200, as_member.text
    assert as_member.json().get("billing_account") is None
    assert "balance" not in as_member.text
    as_billing = suite.http("GET", org, headers=billing.auth).json()
    assert as_billing["billing_account"]["organization_id"] == team.org_id


def test_staff_see_every_invoice_service_and_ledger_line(suite: Suite, staff: Person) -> None:
    owner = suite.new_person()
    org_id, _ = organization(suite, owner)
    serial = f"SN-{uuid.uuid4().hex[:12]}"
    service = lease(suite, staff, org_id, 2000, hardware_serial=serial)

    services = "/v1/admin/services"
    assert ids(items(suite, staff, services, serial=serial)) == [service["id"]]
    assert ids(items(suite, staff, services, organization_id=org_id, status="ACTIVE")) == [
        service["id"]
    ]
    assert items(suite, staff, services, organization_id=org_id, status="CANCELLED") == []
    active = items(suite, staff, services, status="ACTIVE")
    assert active and {s["status"] for s in active} == {"ACTIVE"}
    one = suite.http("GET", f"{services}/{service['id']}", headers=staff.auth)
    assert one.status_code == 200 and one.json()["hardware_serial"] == serial, one.text

    run_billing(suite, staff, PERIOD)
    invoices = "/v1/admin/invoices"
    [invoice] = items(suite, staff, invoices, organization_id=org_id)
    mine = [invoice["id"]]
    assert ids(items(suite, staff, invoices, organization_id=org_id, status="ISSUED")) == mine
    assert items(suite, staff, invoices, organization_id=org_id, status="PAID") == []
    assert ids(items(suite, staff, invoices, organization_id=org_id, period=PERIOD)) == mine
    assert items(suite, staff, invoices, organization_id=org_id, period=NEXT_PERIOD) == []
    assert items(suite, staff, invoices, organization_id=org_id, overdue="true") == []
    assert ids(items(suite, staff, invoices, organization_id=org_id, overdue="false")) == mine
    issued = items(suite, staff, invoices, status="ISSUED", period=PERIOD)
    assert issued and {i["status"] for i in issued} == {"ISSUED"}
    refused = suite.http("GET", invoices, params={"period": "2026-13"}, headers=staff.auth)
    assert refused.status_code == 422 and "period" in refused.json()["error"]["fields"]

    paid = suite.http(
        "POST",
        f"/v1/admin/organizations/{org_id}/payments",
        json={"invoice_id": invoice["id"], "amount": 1000, "method": "CASH"},
        headers=staff.auth,
    )
    assert paid.status_code == 201, paid.text
    wait_until(
        lambda: invoice_detail(suite, owner, org_id, invoice["id"])["amount_paid"] == 1000,
        30,
        "the payment to be settled",
    )
    assert issue_credit(suite, staff, org_id, 700).status_code == 201

    account = suite.http(
        "GET", f"/v1/organizations/{org_id}/billing-account", headers=owner.auth
    ).json()

    def ledger_of(person: Person, path: str) -> list[dict]:
        response = suite.http("GET", path, params={"limit": 100}, headers=person.auth)
        assert response.status_code == 200, response.text
        body = response.json()
        return body["items"] if isinstance(body, dict) else body

    ledger = ledger_of(staff, f"/v1/admin/organizations/{org_id}/ledger")
    assert ledger_of(owner, f"/v1/organizations/{org_id}/ledger") == ledger
    assert {"invoice", "payment", "credit"} <= {line["kind"] for line in ledger}
    assert [line["at"] for line in ledger] == sorted(line["at"] for line in ledger)
    assert ledger[-1]["balance_after"] == account["balance"]
    assert sum(line["amount"] for line in ledger) == account["balance"]
    assert account["balance"] == 1000 + 700 - invoice["total"]


def test_a_user_disabled_by_staff_cannot_sign_in_until_enabled_again(
    suite: Suite, staff: Person
) -> None:
    person = suite.new_person()
    assert suite.http("GET", "/v1/me", headers=person.auth).status_code == 200

    disabled = suite.http("POST", f"/v1/admin/users/{person.user_id}/disable", headers=staff.auth)
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["disabled_at"] is not None
    assert suite.http("GET", "/v1/me", headers=person.auth).status_code == 401
    refused = suite.http(
        "POST", "/v1/auth/sign-in", json={"email": person.email, "password": PASSWORD}
    )
    assert refused.status_code == 403, refused.text
    wrong = suite.http(
        "POST", "/v1/auth/sign-in", json={"email": person.email, "password": "not the password"}
    )
    assert wrong.status_code == 401, "a wrong password says nothing about the account"

    enabled = suite.http("POST", f"/v1/admin/users/{person.user_id}/enable", headers=staff.auth)
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["disabled_at"] is None
    again = suite.sign_in(person.email)
    assert suite.http("GET", "/v1/me", headers=again.auth).status_code == 200
    assert suite.http("GET", "/v1/me", headers=person.auth).status_code == 401
    actions = {
        r["action"] for r in items(suite, staff, "/v1/admin/audit", entity_id=person.user_id)
    }
    assert {"user.disabled", "user.enabled"} <= actions


def test_people_change_their_own_name_and_image(suite: Suite) -> None:
    person = suite.new_person()
    image = "https://cdn.example.co.zw/faces/tendai.png"
    changed = suite.http(
        "PATCH", "/v1/me", json={"name": "Tendai Moyo", "image": image}, headers=person.auth
    )
    assert changed.status_code == 200, changed.text
    me = suite.http("GET", "/v1/me", headers=person.auth).json()
    assert (me["name"], me["image"]) == ("Tendai Moyo", image)
    refused = suite.http(
        "PATCH", "/v1/me", json={"image": "http://x.test/a.png"}, headers=person.auth
    )
    assert refused.status_code == 422 and "image" in refused.json()["error"]["fields"]
    cleared = suite.http("PATCH", "/v1/me", json={"image": None}, headers=person.auth)
    assert cleared.status_code == 200 and cleared.json()["image"] is None
