"""Support over real HTTP: a client's ticket about their invoice, answered by staff in
public and in an internal note no client ever reads (in no answer, search, email or
event); the status flow and its refusals; first-response targets and their breach; a
disputed Paynow payment (the simulator's switch) that opens its own ticket; who may read
which tickets, and staff's filters."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.clock import utcnow
from shared.ids import cuid
from shared.waiting import wait_until
from tests.integration.conftest import STAFF_EMAIL, Person, Suite, text_of
from tests.integration.payments_helpers import (
    PAID_SOON,
    SETTLE_SECONDS,
    Billed,
    Simulator,
    billed_organizations,
    member,
    pay_as_member,
    payment,
    refused,
    started,
    wait_for_payment,
)
from tests.integration.support_helpers import (
    answer,
    anywhere,
    mails_holding,
    messages,
    open_ticket,
    opened,
    org_path,
    reply,
    set_status,
    staff_ids,
    staff_message,
    staff_messages,
    staff_ticket,
    staff_tickets,
    summary,
    team_address,
    ticket,
    tickets,
    wait_for_mail,
    word,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def billed(suite: Suite) -> list[Billed]:
    """Three organizations of one owner, each with an issued invoice (one billing run)."""
    return billed_organizations(suite, suite.sign_in(STAFF_EMAIL), 3)


def at(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


def ids(items: list[dict[str, Any]]) -> list[str]:
    return sorted(item["id"] for item in items)


def test_a_client_sees_the_reply_and_never_the_internal_note(
    suite: Suite, staff: Person, billed: list[Billed]
) -> None:
    a, b, _ = billed
    owner = a.owner
    number = a.invoice["invoice_number"]

    # Only the organization's own invoice, service or payment can be what a ticket is about.
    other = open_ticket(suite, owner, a.org_id, invoice_id=b.invoice_id)
    assert refused(other, 404, "invoice_id")
    assert refused(open_ticket(suite, owner, a.org_id, invoice_id=cuid()), 404, "invoice_id")
    [b_service] = answer(
        suite.http("GET", f"/v1/organizations/{b.org_id}/services", headers=owner.auth)
    )["items"]
    assert refused(
        open_ticket(suite, owner, a.org_id, service_id=b_service["id"]), 404, "service_id"
    )
    two_things = open_ticket(suite, owner, a.org_id, invoice_id=a.invoice_id, service_id=cuid())
    assert two_things.status_code == 422, two_things.text
    assert refused(open_ticket(suite, owner, a.org_id, subject=""), 422, "subject")
    assert refused(open_ticket(suite, owner, a.org_id, priority="MEDIUM"), 422, "priority")
    assert refused(open_ticket(suite, owner, a.org_id, source="staff"), 422, "source")
    assert tickets(suite, owner, a.org_id) == [], "a refused request opens nothing"

    topic, note_word, reply_word = word(), word(), word()
    subject = f"Invoice {number} charged twice {topic}"
    mine = opened(
        suite,
        owner,
        a.org_id,
        subject=subject,
        description=f"We were debited twice for invoice {number}.",
        invoice_id=a.invoice_id,
    )
    assert (mine["status"], mine["priority"], mine["source"]) == ("OPEN", "NORMAL", "client")
    assert (mine["organization_id"], mine["invoice_id"], mine["opened_by_id"]) == (
        a.org_id,
        a.invoice_id,
        owner.user_id,
    )
    assert (mine["assigned_to_id"], mine["first_responded_at"], mine["resolved_at"]) == (
        None,
        None,
        None,
    )
    assert at(mine["first_response_due_at"]) > at(mine["created_at"])
    assert mine["response_breached"] is False
    new_ticket = wait_for_mail(suite, team_address(suite), "New ticket", subject)
    assert "[NORMAL]" in new_ticket["Subject"]
    assert a.org_id in text_of(new_ticket)

    assert ids(staff_tickets(suite, staff, organization_id=a.org_id)) == [mine["id"]]
    not_staff = suite.http("POST", f"/v1/admin/tickets/{mine['id']}/assign", headers=owner.auth)
    assert not_staff.status_code == 403, not_staff.text
    client_as_assignee = suite.http(
        "POST",
        f"/v1/admin/tickets/{mine['id']}/assign",
        json={"assigned_to_id": owner.user_id},
        headers=staff.auth,
    )
    assert refused(client_as_assignee, 404, "assigned_to_id")
    assigned = answer(
        suite.http(
            "POST",
            f"/v1/admin/tickets/{mine['id']}/assign",
            json={"assigned_to_id": staff.user_id},
            headers=staff.auth,
        )
    )
    assert assigned["assigned_to_id"] == staff.user_id
    wait_for_mail(suite, STAFF_EMAIL, subject)

    note_text = f"Internal: the bank says {note_word}; do not tell the client yet."
    note = answer(staff_message(suite, staff, mine["id"], note_text, internal=True), 201)
    assert (note["is_internal"], note["from_staff"], note["sender_id"]) == (
        True,
        True,
        staff.user_id,
    )
    after_note = staff_ticket(suite, staff, mine["id"])
    assert (after_note["status"], after_note["first_responded_at"]) == ("OPEN", None), (
        "a note is no answer to the client"
    )
    reply_text = f"We have refunded the second debit; reference {reply_word}."
    public = answer(staff_message(suite, staff, mine["id"], reply_text), 201)
    assert (public["is_internal"], public["from_staff"]) == (False, True)

    # The client's views: the reply, never the note.
    seen = ticket(suite, owner, a.org_id, mine["id"])
    assert (seen["status"], seen["assigned_to_id"]) == ("IN_PROGRESS", staff.user_id)
    assert seen["first_responded_at"] is not None and seen["response_breached"] is False
    conversation = messages(suite, owner, a.org_id, mine["id"])
    assert [(m["id"], m["message"], m["is_internal"]) for m in conversation] == [
        (public["id"], reply_text, False)
    ]
    for path in (org_path(a.org_id, mine["id"]), org_path(a.org_id, mine["id"]) + "/messages"):
        response = suite.http("GET", path, headers=owner.auth)
        assert note_word not in response.text and note["id"] not in response.text
    assert tickets(suite, owner, a.org_id, q=note_word) == [], "notes are not searched"
    assert ids(tickets(suite, owner, a.org_id, q=reply_word)) == [mine["id"]]
    assert ids(tickets(suite, owner, a.org_id, q=topic)) == [mine["id"]]
    assert tickets(suite, owner, b.org_id, q=reply_word) == []

    # Staff's views: both.
    assert [(m["id"], m["is_internal"]) for m in staff_messages(suite, staff, mine["id"])] == [
        (note["id"], True),
        (public["id"], False),
    ]
    assert staff_ids(suite, staff, q=note_word) == [mine["id"]]
    assert staff_ids(suite, staff, q=reply_word) == [mine["id"]]

    # The email to the client (the opener) holds the reply; no email or event the note.
    emailed = wait_for_mail(suite, owner.email, reply_word)
    assert reply_text in text_of(emailed)
    assert note_word not in text_of(emailed)
    assert len(mails_holding(suite, owner.email, reply_word)) == 1
    assert anywhere(suite, note_word) == []
    assert anywhere(suite, reply_word) != []


def test_the_status_flow_and_its_refusals(suite: Suite, staff: Person) -> None:
    owner = suite.new_person()
    org_id = suite.new_org(owner)["id"]
    team = team_address(suite)
    subject = f"Till offline {word()}"
    mine = opened(suite, owner, org_id, subject=subject)
    path = f"/v1/admin/tickets/{mine['id']}"

    def status() -> str:
        return ticket(suite, owner, org_id, mine["id"])["status"]

    assert refused(set_status(suite, staff, mine["id"], "OPEN"), 409, "status")
    assert refused(set_status(suite, staff, mine["id"], "LOST"), 422, "status")
    assert refused(set_status(suite, staff, cuid(), "CLOSED"), 404, "ticket_id")
    asked = staff_message(suite, staff, mine["id"], "Which till is it?", status="WAITING_ON_CLIENT")
    assert answer(asked, 201)["is_internal"] is False
    assert status() == "WAITING_ON_CLIENT"
    assert refused(set_status(suite, staff, mine["id"], "WAITING_ON_CLIENT"), 409, "status")
    wait_for_mail(suite, owner.email, "Which till is it?")

    answer(reply(suite, owner, org_id, mine["id"], "The one at the front desk."), 201)
    assert status() == "IN_PROGRESS", "the client answered: back to staff"

    resolved = answer(set_status(suite, staff, mine["id"], "RESOLVED"))
    assert resolved["status"] == "RESOLVED" and resolved["resolved_at"] is not None
    assert ticket(suite, owner, org_id, mine["id"])["resolved_at"] == resolved["resolved_at"]
    wait_for_mail(suite, owner.email, "resolved", subject)
    assert refused(set_status(suite, staff, mine["id"], "WAITING_ON_CLIENT"), 409, "status")

    # The client writes again on a resolved ticket: it reopens, and the team hears of it.
    answer(reply(suite, owner, org_id, mine["id"], "It is offline again."), 201)
    reopened = ticket(suite, owner, org_id, mine["id"])
    assert (reopened["status"], reopened["resolved_at"]) == ("IN_PROGRESS", None)
    wait_for_mail(suite, team, "reopened", subject)

    closed = answer(set_status(suite, staff, mine["id"], "CLOSED"))
    assert closed["status"] == "CLOSED"
    assert refused(set_status(suite, staff, mine["id"], "IN_PROGRESS"), 409, "status")
    assert refused(set_status(suite, staff, mine["id"], "CLOSED"), 409, "status")
    assert refused(reply(suite, owner, org_id, mine["id"], "Hello?"), 409, "ticket_id")
    assert refused(staff_message(suite, staff, mine["id"], "Hello?"), 409, "ticket_id")
    again = suite.http("POST", org_path(org_id, mine["id"]) + "/close", headers=owner.auth)
    assert again.status_code == 409, again.text
    assert [m["message"] for m in messages(suite, owner, org_id, mine["id"])] == [
        "Which till is it?",
        "The one at the front desk.",
        "It is offline again.",
    ]
    assert suite.http("GET", path, headers=owner.auth).status_code == 403

    # A client may close their own ticket at once.
    second = opened(suite, owner, org_id)
    closing = suite.http("POST", org_path(org_id, second["id"]) + "/close", headers=owner.auth)
    assert answer(closing)["status"] == "CLOSED"
    assert refused(set_status(suite, staff, second["id"], "RESOLVED"), 409, "status")


def test_a_breached_response_target_shows_and_sorts_first(suite: Suite, staff: Person) -> None:
    owner = suite.new_person()
    org_id = suite.new_org(owner)["id"]
    before = summary(suite, staff)

    urgent = opened(suite, owner, org_id, priority="URGENT", subject=f"All tills down {word()}")
    assert at(urgent["first_response_due_at"]) - at(urgent["created_at"]) == timedelta(hours=1)
    assert urgent["response_breached"] is False
    wait_for_mail(suite, team_address(suite), "[URGENT]", urgent["subject"])
    # The suite runs in real time: the ticket is made three days old instead of waiting.
    created = utcnow() - timedelta(days=3)
    suite.sql(
        "UPDATE support.support_tickets SET created_at = :c, first_response_due_at = :d "
        "WHERE id = :id",
        c=created,
        d=created + timedelta(hours=1),
        id=urgent["id"],
    )
    in_time = opened(suite, owner, org_id, subject=f"A question {word()}")
    answer(staff_message(suite, staff, in_time["id"], "Here is the answer."), 201)

    breached = staff_ticket(suite, staff, urgent["id"])
    assert breached["response_breached"] is True
    assert ticket(suite, owner, org_id, urgent["id"])["response_breached"] is True
    answered = staff_ticket(suite, staff, in_time["id"])
    assert answered["first_responded_at"] is not None
    assert at(answered["first_responded_at"]) <= at(answered["first_response_due_at"])
    assert answered["response_breached"] is False
    # Other tests' tickets share the database: staff's list is checked for its order, and
    # the breached ticket comes before every ticket due later.
    listed = staff_tickets(suite, staff, limit="200")
    order = [(t["first_responded_at"] is not None, at(t["first_response_due_at"])) for t in listed]
    assert order == sorted(order), "unanswered first, soonest due first"
    ids = [t["id"] for t in listed]
    assert urgent["id"] in ids
    assert all(
        at(t["first_response_due_at"]) <= at(breached["first_response_due_at"])
        for t in listed[: ids.index(urgent["id"])]
    )
    assert staff_ids(suite, staff, organization_id=org_id, breached="true") == [urgent["id"]]
    assert staff_ids(suite, staff, organization_id=org_id, breached="false") == [in_time["id"]]

    counted = summary(suite, staff)
    assert counted["breached"] == before["breached"] + 1
    assert counted["open"] >= before["open"] + 2
    assert counted["by_priority"]["URGENT"] >= 1
    assert at(counted["oldest"]["created_at"]) <= at(breached["created_at"])

    # A new priority sets the due time anew from when the ticket was opened.
    high = answer(
        suite.http(
            "PATCH",
            f"/v1/admin/tickets/{urgent['id']}",
            json={"priority": "HIGH"},
            headers=staff.auth,
        )
    )
    assert at(high["first_response_due_at"]) - at(high["created_at"]) == timedelta(hours=4)
    assert high["response_breached"] is True
    # Answered late, it stays breached; once closed it is no longer counted.
    answer(staff_message(suite, staff, urgent["id"], "Sorry for the wait."), 201)
    assert staff_ticket(suite, staff, urgent["id"])["response_breached"] is True
    answer(set_status(suite, staff, urgent["id"], "CLOSED"))
    assert summary(suite, staff)["breached"] == before["breached"]


def test_a_disputed_payment_opens_its_ticket_and_a_refund_adds_to_it(
    suite: Suite, staff: Person, billed: list[Billed]
) -> None:
    a, _, c = billed
    simulator = Simulator(suite)
    paying = started(pay_as_member(suite, c.owner, c, method="ecocash", phone=PAID_SOON))
    wait_for_payment(suite, c, paying["id"], "PAID")
    other = open_ticket(suite, a.owner, a.org_id, payment_id=paying["id"])
    assert refused(other, 404, "payment_id")
    assert staff_tickets(suite, staff, organization_id=c.org_id) == []

    reference = simulator.transaction(paying["id"])["paynowreference"]
    simulator.change(reference, "dispute")
    [disputed] = wait_until(
        lambda: staff_tickets(suite, staff, organization_id=c.org_id),
        SETTLE_SECONDS,
        "the disputed payment's ticket",
    )
    assert (disputed["source"], disputed["priority"], disputed["status"]) == (
        "system",
        "HIGH",
        "OPEN",
    )
    assert (disputed["payment_id"], disputed["opened_by_id"]) == (paying["id"], None)
    new_ticket = wait_for_mail(suite, team_address(suite), "[HIGH]", c.org_id)
    assert disputed["subject"] in new_ticket["Subject"]
    assert [t["id"] for t in tickets(suite, c.owner, c.org_id)] == [disputed["id"]]
    noted = len(staff_messages(suite, staff, disputed["id"]))

    simulator.change(reference, "refund")
    wait_until(
        lambda: payment(suite, c, paying["id"])["paynow_status"] == "Refunded",
        SETTLE_SECONDS,
        "the refund to reach the payment",
    )
    conversation = wait_until(
        lambda: (
            (found := staff_messages(suite, staff, disputed["id"])) and len(found) > noted and found
        ),
        SETTLE_SECONDS,
        "the refund's note on the dispute's ticket",
    )
    assert len(conversation) == noted + 1 and conversation[-1]["is_internal"] is True
    assert staff_ids(suite, staff, organization_id=c.org_id) == [disputed["id"]]
    public = [m["id"] for m in conversation if not m["is_internal"]]
    client_view = messages(suite, c.owner, c.org_id, disputed["id"])
    assert [m["id"] for m in client_view] == public
    assert not any(m["is_internal"] for m in client_view)
    client_text = "".join(
        suite.http("GET", path, headers=c.owner.auth).text
        for path in (org_path(c.org_id), org_path(c.org_id, disputed["id"]) + "/messages")
    )
    for note in (m["message"] for m in conversation if m["is_internal"]):
        assert note not in client_text
        assert anywhere(suite, note) == []

    # No client opened it: a staff reply goes to the organization's address.
    reply_word = word()
    answer(staff_message(suite, staff, disputed["id"], f"We are on it: {reply_word}."), 201)
    wait_for_mail(suite, c.email, reply_word)
    assert [m["is_internal"] for m in messages(suite, c.owner, c.org_id, disputed["id"])] == [
        False
    ] * (len(public) + 1)


def test_members_use_support_within_their_organization_and_staff_filter_all(
    suite: Suite, staff: Person
) -> None:
    owner = suite.new_person()
    org_a = suite.new_org(owner)["id"]
    org_b = suite.new_org(owner)["id"]
    plain = member(suite, owner, org_a, "MEMBER")
    b_word = word()

    by_member = opened(suite, plain, org_a, subject=f"Receipt printer {word()}")
    assert (by_member["opened_by_id"], by_member["source"]) == (plain.user_id, "client")
    by_owner = opened(suite, owner, org_a, priority="HIGH")
    in_b = opened(suite, owner, org_b, priority="LOW", description=f"Card reader {b_word}")
    assert ids(tickets(suite, plain, org_a)) == sorted([by_member["id"], by_owner["id"]])
    assert [t["id"] for t in tickets(suite, plain, org_a)] == [by_owner["id"], by_member["id"]], (
        "newest first"
    )
    assert ticket(suite, plain, org_a, by_owner["id"])["id"] == by_owner["id"]
    assert [t["id"] for t in tickets(suite, plain, org_a, priority="HIGH")] == [by_owner["id"]]
    assert tickets(suite, plain, org_a, status="CLOSED") == []
    assert refused(
        suite.http("GET", org_path(org_a), params={"status": "LOST"}, headers=plain.auth),
        422,
        "status",
    )

    # Another organization's ticket is not found under this one, whoever asks.
    for person in (plain, owner):
        assert refused(
            suite.http("GET", org_path(org_a, in_b["id"]), headers=person.auth), 404, "ticket_id"
        )
        assert refused(
            suite.http("GET", org_path(org_a, in_b["id"]) + "/messages", headers=person.auth),
            404,
            "ticket_id",
        )
        assert refused(reply(suite, person, org_a, in_b["id"], "Hi"), 404, "ticket_id")
    assert refused(suite.http("GET", org_path(org_b), headers=plain.auth), 404, "organization_id")
    assert tickets(suite, owner, org_a, q=b_word) == []
    assert suite.http("GET", "/v1/admin/tickets", headers=owner.auth).status_code == 403

    # A staff reply goes to the client participants: the member who opened it.
    answer(
        staff_message(suite, staff, by_owner["id"], "Waiting on you.", status="WAITING_ON_CLIENT"),
        201,
    )
    answer(
        suite.http(
            "POST",
            f"/v1/admin/tickets/{by_owner['id']}/assign",
            json={"assigned_to_id": staff.user_id},
            headers=staff.auth,
        )
    )
    reply_word = word()
    answer(staff_message(suite, staff, by_member["id"], f"Try this: {reply_word}"), 201)
    wait_for_mail(suite, plain.email, reply_word)
    assert mails_holding(suite, owner.email, reply_word) == []

    assert staff_ids(suite, staff, organization_id=org_a) == sorted(
        [by_member["id"], by_owner["id"]]
    )
    assert staff_ids(suite, staff, organization_id=org_a, priority="HIGH") == [by_owner["id"]]
    assert staff_ids(suite, staff, organization_id=org_a, status="IN_PROGRESS") == [by_member["id"]]
    assert staff_ids(suite, staff, organization_id=org_a, status="WAITING_ON_CLIENT") == [
        by_owner["id"]
    ]
    assert staff_ids(suite, staff, organization_id=org_a, assigned_to_id=staff.user_id) == [
        by_owner["id"]
    ]
    assert staff_ids(suite, staff, organization_id=org_b) == [in_b["id"]]
    assert staff_ids(suite, staff, q=b_word) == [in_b["id"]]
    assert staff_ids(suite, staff, q=b_word, organization_id=org_a) == []
    assert refused(
        suite.http("GET", "/v1/admin/tickets", params={"priority": "MEDIUM"}, headers=staff.auth),
        422,
        "priority",
    )
