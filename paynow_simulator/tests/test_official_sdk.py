"""Paynow's official Python SDK (pip package `paynow`), unchanged but for its two URL
constants, against the simulator as a real process: what it accepts from Paynow, it must
accept from the simulator (its own hash check of initiation replies included)."""

from __future__ import annotations

import uuid

import paynow
import pytest
import requests

from paynow_simulator.tests.conftest import RunningSimulator
from shared.waiting import wait_until

RETURN_URL = "http://merchant.test/return"
RESULT_URL = "http://127.0.0.1:9/result"  # nobody listens: these tests only poll


@pytest.fixture
def sdk(simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> paynow.Paynow:
    monkeypatch.setattr(
        paynow.Paynow, "URL_INITIATE_TRANSACTION", f"{simulator.url}/interface/initiatetransaction"
    )
    monkeypatch.setattr(
        paynow.Paynow,
        "URL_INITIATE_MOBILE_TRANSACTION",
        f"{simulator.url}/interface/remotetransaction",
    )
    merchant = simulator.merchant
    return paynow.Paynow(merchant.integration_id, merchant.integration_key, RETURN_URL, RESULT_URL)


def invoice(sdk: paynow.Paynow, auth_email: str = "") -> paynow.Payment:
    payment = sdk.create_payment(f"INV-{uuid.uuid4().hex[:8]}", auth_email)
    payment.add("Terminal lease, November", 12.5)
    return payment


def test_web_checkout_paid_on_the_browser_page(
    sdk: paynow.Paynow, simulator: RunningSimulator
) -> None:
    response = sdk.send(invoice(sdk))  # raises HashMismatchException if the hash is wrong

    assert response.success, response.data
    assert response.hash  # there was a hash, and the SDK found it right
    assert response.has_redirect
    assert response.redirect_url.startswith(f"{simulator.url}/Payment/ConfirmPayment/")
    created = sdk.check_transaction_status(response.poll_url)
    assert (created.status, created.paid, created.amount) == ("created", False, 12.5)

    # The customer pays on the page and is sent back to the merchant.
    page = requests.get(response.redirect_url, timeout=10)
    assert "Pay (test mode)" in page.text
    paid_page = requests.post(
        response.redirect_url, data={"decision": "pay"}, allow_redirects=False, timeout=10
    )
    assert (paid_page.status_code, paid_page.headers["Location"]) == (303, RETURN_URL)
    assert sdk.check_transaction_status(response.poll_url).paid


def test_express_checkout_with_ecocash_is_paid_by_the_test_number(sdk: paynow.Paynow) -> None:
    response = sdk.send_mobile(invoice(sdk, "payer@example.co.zw"), "0771111111", "ecocash")

    assert response.success, response.data
    assert not response.has_redirect
    assert "EcoCash" in response.instruction
    assert sdk.check_transaction_status(response.poll_url).status == "sent"

    def paid() -> paynow.StatusResponse | None:
        status = sdk.check_transaction_status(response.poll_url)
        return status if status.paid else None

    status = wait_until(paid, 10, "the SDK to see the payment paid")
    assert (status.status, status.amount) == ("paid", 12.5)


def test_insufficient_balance_is_an_error_reply(sdk: paynow.Paynow) -> None:
    response = sdk.send_mobile(invoice(sdk, "payer@example.co.zw"), "0774444444", "ecocash")
    assert not response.success
    assert response.data == {"status": "Error", "error": "Insufficient balance"}


def test_a_merchant_with_the_wrong_key_or_an_unknown_id_is_refused(
    sdk: paynow.Paynow, simulator: RunningSimulator
) -> None:
    wrong_key = paynow.Paynow(
        simulator.merchant.integration_id, str(uuid.uuid4()), RETURN_URL, RESULT_URL
    )
    refused = wrong_key.send(invoice(wrong_key))
    assert not refused.success
    assert refused.data == {"status": "Error", "error": "Invalid Hash."}

    unknown = paynow.Paynow("99999", simulator.merchant.integration_key, RETURN_URL, RESULT_URL)
    refused = unknown.send_mobile(invoice(unknown, "payer@example.co.zw"), "0771111111", "ecocash")
    assert refused.data == {"status": "Error", "error": "Invalid Id."}
