"""The simulator as a real process posting to a merchant's result URL (a small HTTP server
in the test), with its fault switches: what the payments service will live through."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from paynow_simulator import approval_page, protocol
from paynow_simulator.tests.conftest import DELAY_SCALE, ResultUrl, RunningSimulator
from shared.waiting import wait_until


def initiation(
    simulator: RunningSimulator, result_url: str, phone: str = "0771111111"
) -> protocol.Message:
    """An EcoCash express checkout as a merchant sends one, signed with its key."""
    message = [
        ("resulturl", result_url),
        ("returnurl", "http://merchant.test/return"),
        ("reference", f"PAY-{uuid.uuid4().hex[:10]}"),
        ("amount", "25.00"),
        ("id", simulator.merchant.integration_id),
        ("additionalinfo", ""),
        ("authemail", "payer@example.co.zw"),
        ("phone", phone),
        ("method", "ecocash"),
        ("status", "Message"),
    ]
    return protocol.sign(message, simulator.merchant.integration_key)


def pay(simulator: RunningSimulator, result_url: ResultUrl) -> tuple[str, dict[str, str]]:
    message = initiation(simulator, result_url.url)
    reply = simulator.post(protocol.REMOTE_PATH, message)
    assert reply["status"] == "Ok", reply
    return protocol.fields(message)["reference"], reply


def settled(simulator: RunningSimulator, reference: str) -> dict:
    """The transaction once the simulator is done with its status posts."""

    def done() -> dict | None:
        transaction = simulator.transaction(reference)
        posts = transaction["status_posts"]
        finished = all(p["dropped"] or p["delivered"] == p["copies"] for p in posts)
        return transaction if posts and finished else None

    return wait_until(done, 10, f"the status posts about {reference} to be done")


def test_a_paid_payment_is_posted_to_the_result_url_signed(
    simulator: RunningSimulator, result_url: ResultUrl
) -> None:
    reference, reply = pay(simulator, result_url)

    [post] = result_url.wait_for(reference)
    assert post.content_type == "application/x-www-form-urlencoded"
    assert protocol.is_signed_by(post.message, simulator.merchant.integration_key)
    assert protocol.fields(post.message) | {"hash": "-"} == {
        "reference": reference,
        "paynowreference": reply["paynowreference"],
        "amount": "25.00",
        "status": "Paid",
        "pollurl": reply["pollurl"],
        "hash": "-",
    }
    # The poll says the same, signed too.
    polled = simulator.poll(reply["pollurl"])
    assert protocol.is_signed_by(polled, simulator.merchant.integration_key)
    assert protocol.fields(polled)["status"] == "Paid"


def test_requests_with_a_wrong_hash_or_an_unknown_id_are_refused(
    simulator: RunningSimulator, result_url: ResultUrl
) -> None:
    message = initiation(simulator, result_url.url)
    tampered = [(n, "2500.00" if n == "amount" else v) for n, v in message]
    assert simulator.post(protocol.REMOTE_PATH, tampered) == {
        "status": "Error",
        "error": "Invalid Hash.",
    }
    unknown = [(n, "99999" if n == "id" else v) for n, v in message]
    assert simulator.post(protocol.INITIATE_PATH, unknown)["error"] == "Invalid Id."
    assert simulator.post(protocol.REMOTE_PATH, message[:-1])["error"] == "Invalid Hash."


def test_dropped_status_posts_never_arrive(
    simulator: RunningSimulator, result_url: ResultUrl
) -> None:
    simulator.faults(drop_status_posts=True)
    reference, reply = pay(simulator, result_url)

    transaction = settled(simulator, reference)
    assert transaction["status"] == "Paid"
    assert [p["dropped"] for p in transaction["status_posts"]] == [True]
    assert result_url.posts_about(reference) == []
    # Polling is how the merchant learns of it.
    assert protocol.fields(simulator.poll(reply["pollurl"]))["status"] == "Paid"


def test_duplicated_status_posts_arrive_twice(
    simulator: RunningSimulator, result_url: ResultUrl
) -> None:
    simulator.faults(duplicate_status_posts=True)
    reference, _ = pay(simulator, result_url)

    first, second = result_url.wait_for(reference, count=2)
    assert first.body == second.body
    assert protocol.is_signed_by(first.message, simulator.merchant.integration_key)
    assert len(settled(simulator, reference)["status_posts"]) == 1
    assert len(result_url.posts_about(reference)) == 2


def test_a_bad_hash_arrives_and_does_not_verify(
    simulator: RunningSimulator, result_url: ResultUrl
) -> None:
    simulator.faults(bad_hash=True)
    reference, reply = pay(simulator, result_url)

    [post] = result_url.wait_for(reference)
    assert protocol.fields(post.message)["status"] == "Paid"
    assert not protocol.is_signed_by(post.message, simulator.merchant.integration_key)
    # Replies stay signed unless bad_hash_replies is on too.
    assert protocol.is_signed_by(
        simulator.poll(reply["pollurl"]), simulator.merchant.integration_key
    )
    simulator.faults(bad_hash_replies=True)
    assert not protocol.is_signed_by(
        simulator.poll(reply["pollurl"]), simulator.merchant.integration_key
    )


def test_a_failing_result_url_gets_the_post_again(
    simulator: RunningSimulator, result_url: ResultUrl
) -> None:
    result_url.failing = 2
    reference, _ = pay(simulator, result_url)

    posts = result_url.wait_for(reference, count=3)
    assert len({post.body for post in posts}) == 1
    assert settled(simulator, reference)["status_posts"][0]["answers"] == ["500", "500", "200"]


def test_a_paid_payment_disputed_then_refunded_is_posted_each_time(
    simulator: RunningSimulator, result_url: ResultUrl
) -> None:
    reference, reply = pay(simulator, result_url)
    result_url.wait_for(reference)
    control = f"{simulator.url}/_simulator/transactions/{reply['paynowreference']}"

    disputed = requests.post(f"{control}/dispute", timeout=10)
    assert (disputed.status_code, disputed.json()["status"]) == (200, "Disputed")
    assert requests.post(f"{control}/refund", timeout=10).json()["status"] == "Refunded"

    posts = result_url.wait_for(reference, count=3)
    assert [protocol.fields(p.message)["status"] for p in posts] == ["Paid", "Disputed", "Refunded"]
    assert all(protocol.is_signed_by(p.message, simulator.merchant.integration_key) for p in posts)
    again = requests.post(f"{control}/dispute", timeout=10)
    assert again.status_code == 409
    assert "is Refunded" in again.json()["error"]
    assert (
        requests.post(f"{simulator.url}/_simulator/transactions/1/refund", timeout=10).status_code
        == 404
    )


def test_a_cancelled_payment_is_posted_after_its_delay(
    simulator: RunningSimulator, result_url: ResultUrl
) -> None:
    message = initiation(simulator, result_url.url, phone="0773333333")
    started = time.monotonic()
    reply = simulator.post(protocol.REMOTE_PATH, message)
    assert protocol.fields(simulator.poll(reply["pollurl"]))["status"] == "Sent"

    [post] = result_url.wait_for(protocol.fields(message)["reference"])
    assert time.monotonic() - started >= 30 * DELAY_SCALE
    assert protocol.fields(post.message)["status"] == "Cancelled"


def test_slow_answers_wait_as_long_as_asked(
    simulator: RunningSimulator, result_url: ResultUrl
) -> None:
    assert simulator.faults(slow_seconds=1.0)["slow_seconds"] == 1.0
    started = time.monotonic()
    _, reply = pay(simulator, result_url)
    assert time.monotonic() - started >= 1.0
    with pytest.raises(requests.Timeout):
        requests.post(reply["pollurl"], timeout=0.3)


def test_wrong_fault_switches_are_refused(simulator: RunningSimulator) -> None:
    response = requests.post(
        f"{simulator.url}/_simulator/faults", json={"drop_everything": True}, timeout=10
    )
    assert response.status_code == 400
    assert "drop_everything" in response.json()["error"]


def test_the_approval_page_loads_nothing_from_elsewhere(
    simulator: RunningSimulator, result_url: ResultUrl
) -> None:
    message = protocol.sign(
        [
            ("resulturl", result_url.url),
            ("returnurl", "http://merchant.test/return"),
            ("reference", "<script>alert(1)</script>"),
            ("amount", "5"),
            ("id", simulator.merchant.integration_id),
            ("status", "Message"),
        ],
        simulator.merchant.integration_key,
    )
    reply = simulator.post(protocol.INITIATE_PATH, message)
    page = requests.get(reply["browserurl"], timeout=10)

    assert page.headers["Content-Security-Policy"] == approval_page.CSP
    assert "default-src 'none'" in approval_page.CSP
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    cancelled = requests.post(
        reply["browserurl"], data={"decision": "cancel"}, allow_redirects=False, timeout=10
    )
    assert cancelled.status_code == 303
    [post] = result_url.wait_for("<script>alert(1)</script>")
    assert protocol.fields(post.message)["status"] == "Cancelled"
    assert "Return to the merchant" in requests.get(reply["browserurl"], timeout=10).text
