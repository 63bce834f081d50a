from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

import pytest

from paynow_simulator import protocol
from paynow_simulator.initiation import Refused, read_express, read_web
from paynow_simulator.journal import Journal
from paynow_simulator.merchants import Merchant
from paynow_simulator.tests.samples import MERCHANT, express_values, web_values
from paynow_simulator.transactions import Ledger, NotAllowed, Transaction

Merchants = dict[str, Merchant]

SCALE = 0.05
BASE = "http://paynow.test"


class Harness:
    """A ledger whose timers wait for the test to fire them, and whose announcements are
    kept instead of posted; with a `journal`, one life of it, restored from the journal
    (`restored`: how many transactions came back)."""

    def __init__(self, journal: Journal | None = None, merchants: Merchants | None = None) -> None:
        self.timers: list[tuple[float, Callable[[], None]]] = []
        self.announced: list[tuple[str, str]] = []
        self.ledger = Ledger(
            lambda delay, action: self.timers.append((delay, action)),
            lambda t: self.announced.append((t.paynow_reference, t.status)),
            SCALE,
            journal,
        )
        known = {MERCHANT.integration_id: MERCHANT} if merchants is None else merchants
        self.restored = self.ledger.restore(journal.read(known)) if journal else 0

    def fire_timers(self) -> list[float]:
        delays = [delay for delay, _ in self.timers]
        for _, action in self.timers:
            action()
        self.timers.clear()
        return delays

    def express(self, method: str = "ecocash", **extra: str) -> Transaction:
        initiation, outcome = read_express(express_values(method, **extra))
        return self.ledger.open_express(MERCHANT, initiation, outcome, BASE)

    def web(self) -> Transaction:
        return self.ledger.open_web(MERCHANT, read_web(web_values()), BASE, BASE)


@pytest.fixture
def harness() -> Harness:
    return Harness()


@pytest.mark.parametrize(
    ("phone", "seconds", "status"),
    [
        ("0771111111", 5, protocol.PAID),
        ("0772222222", 30, protocol.PAID),
        ("0773333333", 30, protocol.CANCELLED),
        ("+263 77 111 1111", 5, protocol.PAID),
        ("263773333333", 30, protocol.CANCELLED),
    ],
)
def test_test_numbers_play_their_script_on_scaled_time(
    harness: Harness, phone: str, seconds: float, status: str
) -> None:
    transaction = harness.express(phone=phone)
    assert transaction.status == protocol.SENT
    assert harness.announced == []  # the first status is not a change

    assert harness.fire_timers() == [pytest.approx(seconds * SCALE)]
    assert transaction.status == status
    assert harness.announced == [(transaction.paynow_reference, status)]
    assert [s for s, _ in transaction.history] == [protocol.SENT, status]


@pytest.mark.parametrize("method", ["ecocash", "onemoney", "innbucks"])
def test_insufficient_balance_is_refused_at_once(harness: Harness, method: str) -> None:
    with pytest.raises(Refused, match=r"^Insufficient balance$"):
        harness.express(method, phone="0774444444")
    assert harness.timers == [] and harness.ledger.all() == []


def test_a_number_that_is_not_a_test_number_is_refused_naming_them(harness: Harness) -> None:
    with pytest.raises(Refused, match=r"Invalid phone field: .*0771111111, 0772222222"):
        harness.express(phone="0779999999")
    with pytest.raises(Refused, match=r"^Invalid phone field$"):
        harness.express(phone="")


@pytest.mark.parametrize(
    ("method", "token", "outcome"),
    [
        ("vmc", "{11111111-1111-1111-1111-111111111111}", protocol.PAID),
        ("vmc", "{33333333-3333-3333-3333-333333333333}", protocol.CANCELLED),
        ("zimswitch", "2" * 32, protocol.PAID),
        ("zimswitch", "4" * 32, "Insufficient balance"),
    ],
)
def test_cards_play_paynows_test_tokens(
    harness: Harness, method: str, token: str, outcome: str
) -> None:
    if outcome == "Insufficient balance":
        with pytest.raises(Refused, match=outcome):
            harness.express(method, token=token)
        return
    transaction = harness.express(method, token=token)
    harness.fire_timers()
    assert transaction.status == outcome
    assert [name for name, _ in transaction.initiation_reply()] == [
        "status",
        "paynowreference",
        "pollurl",
    ]


def test_a_card_payment_needs_a_merchant_trace(harness: Harness) -> None:
    with pytest.raises(Refused, match="Invalid merchanttrace field"):
        harness.express("vmc", merchanttrace="")


def test_mobile_money_replies_with_instructions_and_innbucks_with_a_code(
    harness: Harness,
) -> None:
    ecocash = protocol.fields(harness.express("ecocash").initiation_reply())
    assert "*151*" in ecocash["instructions"]
    innbucks = harness.express("innbucks").initiation_reply()
    fields = protocol.fields(innbucks)
    assert re.fullmatch(r"\d{9}", fields["authorizationcode"])
    assert re.fullmatch(r"\d{1,2}-[A-Z][a-z]{2}-\d{4} \d{2}:\d{2}", fields["authorizationexpires"])
    assert fields["pollurl"].startswith(f"{BASE}/Interface/CheckPayment/?guid=")


def test_a_web_checkout_waits_for_the_customer_and_its_decision_is_final(
    harness: Harness,
) -> None:
    paid, cancelled = harness.web(), harness.web()
    assert paid.status == protocol.CREATED and harness.timers == []
    assert paid.browser_url == f"{BASE}/Payment/ConfirmPayment/{paid.guid}"

    harness.ledger.move(paid.paynow_reference, protocol.PAID)
    harness.ledger.move(cancelled.paynow_reference, protocol.CANCELLED)
    with pytest.raises(NotAllowed):
        harness.ledger.move(cancelled.paynow_reference, protocol.PAID)
    with pytest.raises(NotAllowed):
        harness.ledger.move(paid.paynow_reference, protocol.CANCELLED)
    assert harness.announced == [
        (paid.paynow_reference, protocol.PAID),
        (cancelled.paynow_reference, protocol.CANCELLED),
    ]


def test_only_a_paid_transaction_is_disputed_or_refunded(harness: Harness) -> None:
    transaction = harness.express()
    with pytest.raises(NotAllowed, match="is Sent; it cannot become Disputed"):
        harness.ledger.move(transaction.paynow_reference, protocol.DISPUTED)
    harness.fire_timers()
    harness.ledger.move(transaction.paynow_reference, protocol.DISPUTED)
    harness.ledger.move(transaction.paynow_reference, protocol.REFUNDED)
    with pytest.raises(NotAllowed):
        harness.ledger.move(transaction.paynow_reference, protocol.REFUNDED)
    assert [status for _, status in harness.announced] == [
        protocol.PAID,
        protocol.DISPUTED,
        protocol.REFUNDED,
    ]
    with pytest.raises(LookupError):
        harness.ledger.move("99999999", protocol.REFUNDED)


def test_the_status_message_carries_the_amount_to_two_places(harness: Harness) -> None:
    transaction = harness.web()
    assert transaction.initiation.amount == Decimal("12.5")
    assert protocol.fields(transaction.status_message()) == {
        "reference": "INV-1",
        "paynowreference": transaction.paynow_reference,
        "amount": "12.50",
        "status": "Created",
        "pollurl": transaction.poll_url,
    }


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"amount": "0"}, "Invalid amount field"),
        ({"amount": "-5"}, "Invalid amount field"),
        ({"amount": "1.005"}, "Invalid amount field"),
        ({"amount": "$5"}, "Invalid amount field"),
        ({"amount": ""}, "Invalid amount field"),
        ({"reference": " "}, "Invalid reference field"),
        ({"status": "Ok"}, "Invalid status field"),
        ({"resulturl": "javascript:alert(1)"}, "Invalid resulturl field"),
        ({"returnurl": ""}, "Invalid returnurl field"),
    ],
)
def test_a_web_initiation_paynow_refuses(changes: dict[str, str], error: str) -> None:
    with pytest.raises(Refused, match=f"^{re.escape(error)}$"):
        read_web(web_values(**changes))


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"method": "bitcoin"}, "Invalid method field"),
        ({"authemail": ""}, "Invalid authemail field"),
    ],
)
def test_an_express_initiation_paynow_refuses(changes: dict[str, str], error: str) -> None:
    with pytest.raises(Refused, match=f"^{error}$"):
        read_express(express_values(**changes))
