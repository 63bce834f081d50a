"""People, organizations, invitations and API keys, end to end over HTTP, with email
through the real SMTP sink."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from shared.ids import cuid
from shared.tokens import secret_hash
from shared.waiting import wait_until
from tests.integration.conftest import PASSWORD, Person, Suite, text_of

pytestmark = pytest.mark.integration


def test_sign_up_to_terminal_request_and_revocation(suite: Suite) -> None:
    alice = suite.new_person(f"alice-{uuid.uuid4().hex[:6]}@example.co.zw")
    org = suite.new_org(alice, name="Alice Stores")
    me = suite.http("GET", "/v1/me", headers=alice.auth).json()
    assert [(o["id"], o["role"]) for o in me["organizations"]] == [(org["id"], "OWNER")]

    bob_email = f"bob-{uuid.uuid4().hex[:6]}@example.co.zw"
    invited = suite.http(
        "POST", f"/v1/organizations/{org['id']}/invitations",
        json={"email": bob_email, "role": "MEMBER"}, headers=alice.auth,
    )  # fmt: skip
    assert invited.status_code == 201, invited.text
    bob = suite.new_person(bob_email)
    token = suite.link_token(bob_email, "invited to Alice Stores")
    accepted = suite.http("POST", "/v1/invitations/accept", json={"token": token}, headers=bob.auth)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["role"] == "MEMBER"
    again = suite.http("POST", "/v1/invitations/accept", json={"token": token}, headers=bob.auth)
    assert again.status_code == 422
    members = suite.http("GET", f"/v1/organizations/{org['id']}/members", headers=bob.auth).json()
    assert sorted((m["email"], m["role"]) for m in members["items"]) == sorted(
        [(alice.email, "OWNER"), (bob_email, "MEMBER")]
    )
    assert (
        suite.http("GET", f"/v1/organizations/{org['id']}/api-keys", headers=bob.auth).status_code
        == 403
    )

    created = suite.http(
        "POST", f"/v1/organizations/{org['id']}/api-keys",
        json={"name": "Till 1", "scopes": ["pos:read", "usage:write"]}, headers=alice.auth,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert created.json()["key_prefix"] == key[:8]

    terminal = suite.http("GET", "/v1/terminal/whoami", headers={"X-API-Key": key})
    assert terminal.status_code == 200
    assert terminal.json() == {
        "organization_id": org["id"],
        "api_key_id": created.json()["id"],
        "scopes": ["pos:read", "usage:write"],
    }
    listed = suite.http("GET", f"/v1/organizations/{org['id']}/api-keys", headers=alice.auth).json()
    assert "key" not in listed["items"][0]
    wait_until(
        lambda: suite.http(
            "GET", f"/v1/organizations/{org['id']}/api-keys", headers=alice.auth
        ).json()["items"][0]["last_used_at"],
        30,
        "the gateway's batched lastUsedAt to reach identity",
        interval=0.5,
    )

    revoked = suite.http(
        "DELETE",
        f"/v1/organizations/{org['id']}/api-keys/{created.json()['id']}",
        headers=alice.auth,
    )
    assert (revoked.status_code, revoked.content) == (204, b"")
    keys = suite.http("GET", f"/v1/organizations/{org['id']}/api-keys", headers=alice.auth).json()
    assert [k["is_active"] for k in keys["items"]] == [False]
    wait_until(
        lambda: (
            suite.http("GET", "/v1/terminal/whoami", headers={"X-API-Key": key}).status_code == 401
        ),
        5,
        "every gateway to drop the revoked key",
    )


def test_sign_in_does_not_tell_unknown_emails_from_wrong_passwords(suite: Suite) -> None:
    person = suite.new_person()
    wrong = suite.http(
        "POST", "/v1/auth/sign-in", json={"email": person.email, "password": "nope-nope-nope"}
    )
    unknown = suite.http(
        "POST", "/v1/auth/sign-in", json={"email": f"x{person.email}", "password": "nope-nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]


def test_sign_up_answers_a_taken_email_as_a_new_one_and_tells_its_owner(suite: Suite) -> None:
    owner = suite.new_person()
    fresh = f"fresh-{uuid.uuid4().hex[:6]}@example.co.zw"
    new = suite.http("POST", "/v1/auth/sign-up", json={"email": fresh, "password": PASSWORD})
    taken = suite.http(
        "POST",
        "/v1/auth/sign-up",
        json={"email": owner.email.upper(), "password": "not the owner's password"},
    )
    assert (new.status_code, new.json()) == (taken.status_code, taken.json())
    assert new.status_code == 202
    assert set(new.headers) - {"Date"} == set(taken.headers) - {"Date"}

    warning = suite.mail(owner.email, "Someone tried to sign up with your email address")
    body = text_of(warning)
    assert "Nothing has changed on your account" in body
    token = re.search(r"reset-password\?token=([A-Za-z0-9_\-]+)", body).group(1)
    suite.mail(fresh, "Confirm")  # the new address gets its verification link
    suite.sign_in(owner.email)  # the account and its password are as they were
    new_password = "chosen after the warning"
    reset = suite.http(
        "POST", "/v1/auth/password-reset/confirm", json={"token": token, "password": new_password}
    )
    assert reset.status_code == 200, reset.text
    suite.sign_in(owner.email, new_password)


def test_staff_acting_on_an_unknown_organization_get_a_404_naming_it(
    suite: Suite, staff: Person
) -> None:
    made_up = cuid()
    for path, body in (
        (f"/v1/organizations/{made_up}/invitations", {"email": "x@example.co.zw"}),
        (f"/v1/organizations/{made_up}/api-keys", {"name": "Till", "scopes": ["pos:read"]}),
    ):
        response = suite.http("POST", path, json=body, headers=staff.auth)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["fields"] == {"organization_id": ["not found"]}
        assert made_up in response.json()["error"]["message"]
    members = suite.http("GET", f"/v1/organizations/{made_up}/members", headers=staff.auth)
    assert members.status_code == 404
    assert (
        suite.sql("SELECT id FROM identity.invitations WHERE organization_id = :o", o=made_up) == []
    )


def test_unverified_people_cannot_sign_in(suite: Suite) -> None:
    email = f"unverified-{uuid.uuid4().hex[:6]}@example.co.zw"
    suite.http("POST", "/v1/auth/sign-up", json={"email": email, "password": PASSWORD})
    response = suite.http("POST", "/v1/auth/sign-in", json={"email": email, "password": PASSWORD})
    assert response.status_code == 403
    assert response.json()["error"]["fields"] == {"email": ["not verified"]}


def test_a_lost_verification_email_can_be_sent_again(suite: Suite) -> None:
    email = f"resend-{uuid.uuid4().hex[:6]}@example.co.zw"
    suite.http("POST", "/v1/auth/sign-up", json={"email": email, "password": PASSWORD})
    first = suite.link_token(email, "Confirm")
    suite.sql(  # the first link was sent over a minute ago
        "UPDATE identity.verifications SET created_at = now() - interval '2 minutes' "
        "WHERE identifier LIKE 'email-verification:%' AND value = :h",
        h=secret_hash(first),
    )
    for address in (email, f"nobody-{uuid.uuid4().hex[:6]}@example.co.zw"):
        asked = suite.http("POST", "/v1/auth/verify-email/resend", json={"email": address})
        assert asked.status_code == 202
    second = suite.link_token(email, "Confirm")
    assert second != first
    assert suite.http("POST", "/v1/auth/verify-email", json={"token": first}).status_code == 422
    assert suite.http("POST", "/v1/auth/verify-email", json={"token": second}).status_code == 200
    again = suite.http("POST", "/v1/auth/verify-email/resend", json={"email": email})
    assert again.status_code == 202  # the same answer once verified
    suite.sign_in(email)


def test_guessing_passwords_is_throttled_with_retry_after(suite: Suite) -> None:
    person = suite.new_person()
    statuses = [
        suite.http(
            "POST", "/v1/auth/sign-in", json={"email": person.email, "password": f"guess-{i}-xxxx"}
        ).status_code
        for i in range(5)
    ]
    assert statuses == [401] * 5
    blocked = suite.http(
        "POST", "/v1/auth/sign-in", json={"email": person.email, "password": PASSWORD}
    )
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0


def test_cookie_sessions_need_the_csrf_token_for_writes(suite: Suite) -> None:
    person = suite.new_person()
    response = suite.http(
        "POST", "/v1/auth/sign-in", json={"email": person.email, "password": PASSWORD}
    )
    cookies = response.headers.get("Set-Cookie", "")
    assert "cvt_session=" in cookies and "HttpOnly" in cookies
    assert "Secure" in cookies and "SameSite=Lax" in cookies
    body = response.json()
    cookie = {"Cookie": f"cvt_session={body['token']}; cvt_csrf={body['csrf_token']}"}

    assert suite.http("GET", "/v1/me", headers=cookie).status_code == 200
    org = {"name": "Cookie Org", "email": "c@example.co.zw"}
    refused = suite.http("POST", "/v1/organizations", json=org, headers=cookie)
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.json()["error"]["fields"]
    forged = suite.http(
        "POST", "/v1/organizations", json=org, headers={**cookie, "X-CSRF-Token": "guess"}
    )
    assert forged.status_code == 403
    allowed = suite.http(
        "POST",
        "/v1/organizations",
        json=org,
        headers={**cookie, "X-CSRF-Token": body["csrf_token"]},
    )
    assert allowed.status_code == 201


def test_sessions_listing_password_change_and_sign_out_everywhere(suite: Suite) -> None:
    first = suite.new_person()
    second = suite.sign_in(first.email)
    sessions = suite.http("GET", "/v1/auth/sessions", headers=second.auth).json()
    assert sessions["total"] == len(sessions["items"]) == 2
    assert [s["current"] for s in sessions["items"]].count(True) == 1

    new_password = "another horse battery"
    changed = suite.http(
        "POST", "/v1/auth/password", headers=second.auth,
        json={"current_password": PASSWORD, "new_password": new_password},
    )  # fmt: skip
    assert changed.status_code == 200
    assert suite.http("GET", "/v1/me", headers=first.auth).status_code == 401
    assert suite.http("GET", "/v1/me", headers=second.auth).status_code == 200
    third = suite.sign_in(first.email, new_password)
    assert suite.http("POST", "/v1/auth/sign-out-everywhere", headers=third.auth).status_code == 200
    assert suite.http("GET", "/v1/me", headers=second.auth).status_code == 401


def test_password_reset_by_emailed_token(suite: Suite) -> None:
    person = suite.new_person()
    for address in (person.email, f"nobody-{uuid.uuid4().hex[:6]}@example.co.zw"):
        asked = suite.http("POST", "/v1/auth/password-reset/request", json={"email": address})
        assert asked.status_code == 202
    token = suite.link_token(person.email, "Reset your CVT password")
    new_password = "a brand new password"
    reset = suite.http(
        "POST", "/v1/auth/password-reset/confirm", json={"token": token, "password": new_password}
    )
    assert reset.status_code == 200
    assert suite.http("GET", "/v1/me", headers=person.auth).status_code == 401
    reused = suite.http(
        "POST", "/v1/auth/password-reset/confirm", json={"token": token, "password": new_password}
    )
    assert reused.status_code == 422
    suite.sign_in(person.email, new_password)


def test_roles_keep_an_owner_and_admins_below_owners(suite: Suite) -> None:
    owner = suite.new_person()
    org = suite.new_org(owner)
    members = suite.http("GET", f"/v1/organizations/{org['id']}/members", headers=owner.auth).json()
    owner_member = members["items"][0]["id"]
    demote = suite.http(
        "PATCH", f"/v1/organizations/{org['id']}/members/{owner_member}",
        json={"role": "ADMIN"}, headers=owner.auth,
    )  # fmt: skip
    assert demote.status_code == 409
    assert (
        suite.http(
            "DELETE", f"/v1/organizations/{org['id']}/members/{owner_member}", headers=owner.auth
        ).status_code
        == 409
    )


def test_no_secret_is_stored_or_logged_in_usable_form(suite: Suite) -> None:
    person = suite.new_person()
    org = suite.new_org(person)
    key = suite.http(
        "POST", f"/v1/organizations/{org['id']}/api-keys",
        json={"name": "Till", "scopes": ["pos:read"]}, headers=person.auth,
    ).json()["key"]  # fmt: skip
    assert suite.http("GET", "/v1/terminal/whoami", headers={"X-API-Key": key}).status_code == 200
    secrets = {
        "password": PASSWORD,
        "session token": person.session,
        "device token": person.device,
        "API key": key,
    }

    url = make_url(suite.env.database_url)
    dump = subprocess.run(
        ["pg_dump", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
         "-U", url.username or "postgres", url.database],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert "identity.sessions" in dump
    logs = "".join(
        Path(p).read_text(errors="replace")
        for p in (suite.supervisor.var_dir / "log").glob("*.log")
    )
    for what, secret in secrets.items():
        assert secret not in dump, f"{what} found in the database dump"
        assert secret not in logs, f"{what} found in a log line"
