"""The payment routes' own work, without a broker: which answer a checkout gets (201 for a
new attempt, 200 for the live one), Paynow's status post handed on as the text it sent,
and the pay page answering as a page, also when the link is unknown or payments is down."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from werkzeug.wrappers import Request

from gateway.routes import payments
from shared.errors import NotFound, Unavailable

PAYMENT = {"id": "pay1", "status": "PENDING"}
LINK = {
    "state": "payable",
    "live_payment": None,
    "invoice": {
        "id": "inv1",
        "invoice_number": "INV-2026-000001",
        "period_start": "2026-10-01T00:00:00+00:00",
        "period_end": "2026-11-01T00:00:00+00:00",
        "issued_at": None,
        "due_at": None,
        "total": 500,
        "amount_paid": 0,
        "amount_due": 500,
        "status": "ISSUED",
        "line_items": [],
    },
}


class Reply:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def result(self) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Method:
    """An RPC proxy method that answers `answer` and keeps what it was called with."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[tuple[Any, ...]] = []

    def call_async(self, *args: Any) -> Reply:
        self.calls.append(args)
        return Reply(self.answer)


def gateway(**methods: Any) -> Any:
    return SimpleNamespace(payments=SimpleNamespace(**{n: Method(a) for n, a in methods.items()}))


REQUEST = Request.from_values("/")


@pytest.mark.parametrize(("created", "status"), [(True, 201), (False, 200)])
def test_a_checkout_answers_201_when_started_and_200_with_the_live_attempt(
    created: bool, status: int
) -> None:
    body = {"method": "ecocash", "phone": "0771111111"}
    by_token = gateway(start_checkout_by_token={"created": created, "payment": PAYMENT})
    assert payments.start_checkout_by_token(by_token, REQUEST, "tok", body) == (status, PAYMENT)
    assert by_token.payments.start_checkout_by_token.calls == [("tok", body)]
    member = gateway(start_checkout={"created": created, "payment": PAYMENT})
    assert payments.start_checkout(member, REQUEST, "org", "inv", body) == (status, PAYMENT)
    assert member.payments.start_checkout.calls == [("org", "inv", body)]


def test_paynow_s_status_post_is_passed_on_as_sent_and_answered_ok() -> None:
    sent = "reference=pay1&status=Paid&hash=AB"
    proxies = gateway(receive_status_post={"accepted": True, "status": "PAID"})
    response = payments.paynow_status_post(proxies, REQUEST, sent)
    assert (response.status_code, response.mimetype, response.get_data()) == (
        200,
        "text/plain",
        b"OK",
    )
    assert proxies.payments.receive_status_post.calls == [(sent,)]


def test_the_pay_page_is_a_page_for_a_known_an_unknown_link_and_payments_down() -> None:
    shown = payments.pay_page(gateway(describe_payment_link=LINK), REQUEST, "tok")
    assert (shown.status_code, shown.mimetype) == (200, "text/html")
    assert "INV-2026-000001" in shown.get_data(as_text=True)
    # Its address holds the token: Paynow's page, where it sends card payers, must not see it.
    assert shown.headers["Referrer-Policy"] == "no-referrer"
    unknown = gateway(describe_payment_link=NotFound("no such link", {"token": ["not found"]}))
    missing = payments.pay_page(unknown, REQUEST, "nope")
    assert (missing.status_code, missing.mimetype) == (404, "text/html")
    assert "Payment link not found" in missing.get_data(as_text=True)
    down = gateway(describe_payment_link=Unavailable("a service did not answer in time"))
    unavailable = payments.pay_page(down, REQUEST, "tok")
    assert (unavailable.status_code, unavailable.headers["Retry-After"]) == (503, "5")
