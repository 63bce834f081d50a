"""Payments' Paynow client: Paynow's hash rule (the docs' reference vector), the messages it
sends, and what it believes of the answers, against the simulator over real HTTP."""

from __future__ import annotations

import pytest

from ops.processes import free_port
from services.payments.paynow import (
    PaynowClient,
    PaynowRefused,
    PaynowUnreachable,
    PaynowUntrusted,
    canonical_status,
    from_wire_amount,
    to_wire_amount,
)
from services.payments.tests.conftest import MERCHANT, RunningSimulator
from shared import paynow as wire

# Paynow's docs, "Validating a hash on an inbound message" (also in ../shared/NOTES.md).
DOCS_KEY = "3e9fed89-60e1-4ce5-ab6e-6b1eb2d4f977"
DOCS_REPLY = (
    "status=Ok&browserurl=https%3a%2f%2fstaging.paynow.co.zw%2fPayment%2fConfirmPayment%2f9510"
    "&pollurl=https%3a%2f%2fstaging.paynow.co.zw%2fInterface%2fCheckPayment%2f%3fguid%3d"
    "c7ed41da-0159-46da-b428-69549f770413&paynowreference=9510"
)
DOCS_HASH = (
    "750DD0B0DF374678707BB5AF915AF81C228B9058AD57BB7120569EC68BBB9C2E"
    "FC1B26C6375D2BC562AC909B3CD6B2AF1D42E1A5E479FFAC8F4FB3FDCE71DF4D"
)
INITIATION = {
    "reference": "cpaymentunderpaynowtest01",
    "amount": 1_250,
    "additional_info": "Invoice INV-2026-000042",
    "auth_email": "payer@example.co.zw",
    "return_url": "http://gateway.test/pay/token?payment=cpaymentunderpaynowtest01",
    "result_url": "http://gateway.test/webhooks/paynow",
}


def test_the_docs_reply_verifies_with_the_docs_key_in_either_case() -> None:
    message = wire.parse(f"{DOCS_REPLY}&hash={DOCS_HASH}")
    assert wire.signature(message, DOCS_KEY) == DOCS_HASH
    assert wire.is_signed_by(message, DOCS_KEY)
    # Paynow (and its SDKs) hash with the GUID's lowercase form.
    assert wire.is_signed_by(message, DOCS_KEY.upper())
    assert not wire.is_signed_by(message, "8d3c2a41-0c55-4f1e-9a47-2f0e5b6c7d8e")


def test_a_hash_with_characters_beyond_ascii_is_refused_not_a_crash() -> None:
    assert not wire.is_signed_by(wire.parse(f"{DOCS_REPLY}&hash=%c3%a9"), DOCS_KEY)


@pytest.mark.parametrize(
    ("cents", "text"), [(1, "0.01"), (1_250, "12.50"), (100_000_000, "1000000.00")]
)
def test_amounts_go_on_the_wire_as_paynow_writes_them(cents: int, text: str) -> None:
    assert to_wire_amount(cents) == text
    assert from_wire_amount(text) == cents


@pytest.mark.parametrize(("text", "cents"), [("12.5", 1_250), ("12", 1_200), (" 0.10 ", 10)])
def test_amounts_paynow_may_write_shorter_still_read(text: str, cents: int) -> None:
    assert from_wire_amount(text) == cents


@pytest.mark.parametrize("text", ["", "12.345", "abc", "-1.00", "NaN", "Infinity", "1e400"])
def test_amounts_that_are_not_cents_read_as_none(text: str) -> None:
    assert from_wire_amount(text) is None


def test_statuses_read_in_paynows_spelling_whatever_the_case() -> None:
    assert canonical_status("paid") == "Paid"
    assert canonical_status("AWAITING DELIVERY") == "Awaiting Delivery"
    assert canonical_status("Mystery") == "Mystery"


class Recorder:
    """A transport that keeps the request and answers as Paynow would (signed)."""

    def __init__(self, reply: wire.Message) -> None:
        self.reply = reply
        self.requests: list[tuple[str, str]] = []

    def __call__(self, url: str, body: str) -> str:
        self.requests.append((url, body))
        return wire.encode(wire.sign(self.reply, MERCHANT.integration_key))


def sent_client(recorder: Recorder) -> PaynowClient:
    return PaynowClient(
        "https://paynow.test/", MERCHANT.integration_id, MERCHANT.integration_key, recorder
    )


def test_web_initiation_is_the_sdks_message_signed_with_the_key() -> None:
    recorder = Recorder(
        [("status", "Ok"), ("pollurl", "https://paynow.test/p"), ("paynowreference", "7")]
    )
    sent_client(recorder).initiate_web(**INITIATION)
    [(url, body)] = recorder.requests
    message = wire.parse(body)
    assert url == "https://paynow.test/interface/initiatetransaction"
    assert [name for name, _ in message] == [
        "resulturl",
        "returnurl",
        "reference",
        "amount",
        "id",
        "additionalinfo",
        "authemail",
        "status",
        "hash",
    ]
    values = wire.fields(message)
    assert (values["amount"], values["id"], values["status"]) == ("12.50", "40001", "Message")
    assert wire.is_signed_by(message, MERCHANT.integration_key)


def test_express_initiation_adds_phone_and_method_before_status() -> None:
    recorder = Recorder(
        [("status", "Ok"), ("paynowreference", "7"), ("pollurl", "https://paynow.test/p")]
    )
    sent_client(recorder).initiate_express(**INITIATION, phone="0771111111", method="ecocash")
    [(url, body)] = recorder.requests
    message = wire.parse(body)
    assert url == "https://paynow.test/interface/remotetransaction"
    assert [name for name, _ in message][-5:] == ["authemail", "phone", "method", "status", "hash"]
    assert wire.is_signed_by(message, MERCHANT.integration_key)


def test_a_poll_is_an_empty_post_to_the_poll_url() -> None:
    recorder = Recorder(
        [
            ("reference", "r"),
            ("paynowreference", "7"),
            ("amount", "12.50"),
            ("status", "Awaiting Delivery"),
            ("pollurl", "https://paynow.test/p"),
        ]
    )
    report = sent_client(recorder).poll("https://paynow.test/p?guid=1")
    assert recorder.requests == [("https://paynow.test/p?guid=1", "")]
    assert (report.reference, report.amount, report.status) == ("r", 1_250, "Awaiting Delivery")


def test_without_an_integration_nothing_is_sent() -> None:
    recorder = Recorder([])
    with pytest.raises(PaynowUnreachable, match="not configured"):
        PaynowClient("https://paynow.test", "", "", recorder).poll("https://paynow.test/p")
    assert recorder.requests == []


# --- against the simulator ----------------------------------------------------------------


def test_web_checkout_answers_a_browser_url_and_a_poll_url_that_says_created(
    client: PaynowClient, simulator: RunningSimulator
) -> None:
    initiated = client.initiate_web(**INITIATION | {"reference": "web-checkout-1"})
    assert initiated.browser_url and initiated.browser_url.startswith(simulator.url)
    assert initiated.instructions is None
    report = client.poll(initiated.poll_url)
    assert (report.reference, report.status, report.amount) == ("web-checkout-1", "Created", 1_250)
    assert report.paynow_reference == initiated.paynow_reference
    seen = simulator.transaction("web-checkout-1").initiation
    assert (seen.additionalinfo, seen.authemail, seen.resulturl) == (
        "Invoice INV-2026-000042",
        "payer@example.co.zw",
        "http://gateway.test/webhooks/paynow",
    )


def test_express_checkout_answers_instructions_and_is_paid_later(
    client: PaynowClient, simulator: RunningSimulator
) -> None:
    initiated = client.initiate_express(
        **INITIATION | {"reference": "express-1"}, phone="0771111111", method="ecocash"
    )
    assert initiated.browser_url is None
    assert initiated.instructions and "EcoCash" in initiated.instructions
    assert client.poll(initiated.poll_url).status == "Sent"
    simulator.wait_for_status("express-1", "Paid")
    assert client.poll(initiated.poll_url).status == "Paid"


def test_innbucks_answers_an_authorization_code(client: PaynowClient) -> None:
    initiated = client.initiate_express(
        **INITIATION | {"reference": "innbucks-1"}, phone="0772222222", method="innbucks"
    )
    assert initiated.authorization_code and initiated.authorization_code.isdigit()


def test_paynows_refusal_carries_its_reason(client: PaynowClient) -> None:
    with pytest.raises(PaynowRefused, match=r"^Insufficient balance$"):
        client.initiate_express(
            **INITIATION | {"reference": "broke-1"}, phone="0774444444", method="ecocash"
        )


def test_a_request_signed_with_another_key_is_refused_by_paynow(
    simulator: RunningSimulator,
) -> None:
    stranger = PaynowClient(simulator.url, MERCHANT.integration_id, DOCS_KEY)
    with pytest.raises(PaynowRefused, match="Invalid Hash"):
        stranger.initiate_web(**INITIATION)


def test_replies_whose_hash_does_not_verify_are_not_believed(
    client: PaynowClient, simulator: RunningSimulator
) -> None:
    initiated = client.initiate_web(**INITIATION | {"reference": "spoiled-1"})
    simulator.app.switches.update({"bad_hash_replies": True})
    with pytest.raises(PaynowUntrusted):
        client.initiate_web(**INITIATION | {"reference": "spoiled-2"})
    with pytest.raises(PaynowUntrusted):
        client.poll(initiated.poll_url)


def test_nobody_listening_is_unreachable() -> None:
    client = PaynowClient(
        f"http://127.0.0.1:{free_port()}", MERCHANT.integration_id, MERCHANT.integration_key
    )
    with pytest.raises(PaynowUnreachable):
        client.initiate_web(**INITIATION)


def test_a_status_post_is_read_only_if_its_hash_verifies(client: PaynowClient) -> None:
    message = [
        ("reference", "r-1"),
        ("paynowreference", "10001"),
        ("amount", "12.50"),
        ("status", "Paid"),
        ("pollurl", "http://paynow.test/p"),
    ]
    signed = wire.encode(wire.sign(message, MERCHANT.integration_key))
    assert client.read_status_post(signed).status == "Paid"
    tampered = signed.replace("12.50", "0.01")
    with pytest.raises(PaynowUntrusted) as refused:
        client.read_status_post(tampered)
    assert refused.value.field == "hash"
    with pytest.raises(PaynowUntrusted):
        client.read_status_post(wire.encode(message))  # no hash at all


def test_poll_urls_are_trusted_only_on_paynows_host(client: PaynowClient) -> None:
    assert client.is_paynow_url(f"{client.base_url}/Interface/CheckPayment/?guid=1")
    assert not client.is_paynow_url("http://evil.test/Interface/CheckPayment/?guid=1")
    assert not client.is_paynow_url(client.base_url.replace("http://", "https://"))
