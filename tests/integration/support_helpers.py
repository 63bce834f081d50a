"""Helpers for the support tests: tickets and messages as a member and as staff, words no
other text of the suite holds (to search for, and to look for where they must not be),
and the emails support's events lead to, from the mail sink."""

from __future__ import annotations

import random
import string
from email.message import EmailMessage
from typing import Any

import requests

from shared import config
from shared.waiting import wait_until
from tests.integration.conftest import Person, Suite, text_of

# From a ticket's change to its email: support and notifications each handle one event,
# and notifications asks support and identity whom to write to.
MAIL_SECONDS = 30.0


def word() -> str:
    """A word no other text holds: letters only, so full-text search indexes it whole."""
    return "".join(random.choices(string.ascii_lowercase, k=12))


def team_address(suite: Suite) -> str:
    """Support's own inbox, as the suite's processes were configured."""
    return suite.supervisor.env.get(
        config.SUPPORT_TEAM_EMAIL.name, config.SUPPORT_TEAM_EMAIL.default
    )


def answer(response: requests.Response, status: int = 200) -> Any:
    assert response.status_code == status, (status, response.status_code, response.text)
    return response.json()


def org_path(org_id: str, ticket_id: str | None = None) -> str:
    path = f"/v1/organizations/{org_id}/tickets"
    return f"{path}/{ticket_id}" if ticket_id else path


def open_ticket(suite: Suite, person: Person, org_id: str, **body: object) -> requests.Response:
    body = {"subject": f"Help {word()}", "description": "Please help.", **body}
    return suite.http("POST", org_path(org_id), json=body, headers=person.auth)


def opened(suite: Suite, person: Person, org_id: str, **body: object) -> dict[str, Any]:
    return answer(open_ticket(suite, person, org_id, **body), 201)


def ticket(suite: Suite, person: Person, org_id: str, ticket_id: str) -> dict[str, Any]:
    return answer(suite.http("GET", org_path(org_id, ticket_id), headers=person.auth))


def tickets(suite: Suite, person: Person, org_id: str, **query: str) -> list[dict[str, Any]]:
    """The organization's tickets as a member sees them (one page holds them all)."""
    page = answer(
        suite.http("GET", org_path(org_id), params={"limit": 100, **query}, headers=person.auth)
    )
    assert page["total"] == len(page["items"]), page
    return page["items"]


def messages(suite: Suite, person: Person, org_id: str, ticket_id: str) -> list[dict[str, Any]]:
    page = answer(
        suite.http(
            "GET",
            org_path(org_id, ticket_id) + "/messages",
            params={"limit": 100},
            headers=person.auth,
        )
    )
    assert page["total"] == len(page["items"]), page
    return page["items"]


def reply(
    suite: Suite, person: Person, org_id: str, ticket_id: str, message: str
) -> requests.Response:
    return suite.http(
        "POST",
        org_path(org_id, ticket_id) + "/messages",
        json={"message": message},
        headers=person.auth,
    )


def staff_tickets(suite: Suite, staff: Person, **filters: str) -> list[dict[str, Any]]:
    return answer(
        suite.http("GET", "/v1/admin/tickets", params={"limit": 100, **filters}, headers=staff.auth)
    )["items"]


def staff_ids(suite: Suite, staff: Person, **filters: str) -> list[str]:
    return sorted(t["id"] for t in staff_tickets(suite, staff, **filters))


def staff_ticket(suite: Suite, staff: Person, ticket_id: str) -> dict[str, Any]:
    return answer(suite.http("GET", f"/v1/admin/tickets/{ticket_id}", headers=staff.auth))


def staff_messages(suite: Suite, staff: Person, ticket_id: str) -> list[dict[str, Any]]:
    page = answer(
        suite.http(
            "GET",
            f"/v1/admin/tickets/{ticket_id}/messages",
            params={"limit": 100},
            headers=staff.auth,
        )
    )
    assert page["total"] == len(page["items"]), page
    return page["items"]


def staff_message(
    suite: Suite, staff: Person, ticket_id: str, message: str, **fields: object
) -> requests.Response:
    return suite.http(
        "POST",
        f"/v1/admin/tickets/{ticket_id}/messages",
        json={"message": message, **fields},
        headers=staff.auth,
    )


def set_status(suite: Suite, staff: Person, ticket_id: str, status: str) -> requests.Response:
    return suite.http(
        "POST", f"/v1/admin/tickets/{ticket_id}/status", json={"status": status}, headers=staff.auth
    )


def summary(suite: Suite, staff: Person) -> dict[str, Any]:
    return answer(suite.http("GET", "/v1/admin/support/summary", headers=staff.auth))


def mail_text(message: EmailMessage) -> str:
    """Subject and body of an email (the mailer sends plain text)."""
    return f"{message['Subject']}\n{text_of(message)}"


def mails_holding(suite: Suite, address: str, *needles: str) -> list[EmailMessage]:
    """The emails to `address` whose subject or body holds every needle (any case)."""
    return [
        m
        for m in suite.mails_to(address)
        if all(n.lower() in mail_text(m).lower() for n in needles)
    ]


def wait_for_mail(suite: Suite, address: str, *needles: str) -> EmailMessage:
    found = wait_until(
        lambda: mails_holding(suite, address, *needles),
        MAIL_SECONDS,
        f"an email to {address} holding {needles}",
    )
    return found[0]


def anywhere(suite: Suite, text: str) -> list[str]:
    """Where `text` went that a client could read: every email of the run (to anyone) and
    every event support announced."""
    places = [f"email to {m['To']}: {m['Subject']}" for m in mails_holding(suite, "", text)]
    rows = suite.sql(
        "SELECT event_type FROM support.outbox_messages WHERE payload::text ILIKE :t",
        t=f"%{text}%",
    )
    return places + [f"support event {event_type}" for (event_type,) in rows]
