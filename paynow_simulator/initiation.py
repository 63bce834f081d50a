"""What an initiation request must carry, and how Paynow's test mode answers one.

Test mode (Paynow's docs, "Test Mode"): express checkout with one of four numbers, or for
cards one of four tokens, plays a fixed script: paid after 5 s, paid after 30 s, cancelled
by the customer after 30 s, or refused at once for insufficient balance. Any other number
is refused, as an integration in test mode cannot move real money.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from paynow_simulator import protocol

MOBILE_MONEY = ("ecocash", "onemoney", "innbucks")
CARDS = ("vmc", "zimswitch")  # Visa/Mastercard and Zimswitch, paid with a card token


class Refused(Exception):
    """A request Paynow answers with status=Error; the message is the error text."""


@dataclass(frozen=True)
class Initiation:
    reference: str
    amount: Decimal
    resulturl: str
    returnurl: str
    additionalinfo: str
    authemail: str
    method: str = ""  # empty: web checkout
    phone: str = ""


@dataclass(frozen=True)
class Outcome:
    status: str
    after_seconds: float


# The test scripts by their digit: 0771111111, {11111111-...}, 1111...1 all play "1".
SCRIPTS = {
    "1": Outcome(protocol.PAID, 5.0),
    "2": Outcome(protocol.PAID, 30.0),
    "3": Outcome(protocol.CANCELLED, 30.0),
}
INSUFFICIENT = "4"
INSUFFICIENT_BALANCE = "Insufficient balance"
DIGITS = (*SCRIPTS, INSUFFICIENT)


def test_phone(digit: str) -> str:
    return "077" + digit * 7


def test_card_token(method: str, digit: str) -> str:
    if method == "vmc":
        return "{" + "-".join(digit * n for n in (8, 4, 4, 4, 12)) + "}"
    return digit * 32


_AMOUNT = re.compile(r"\d{1,9}(\.\d{1,2})?")


def _amount(text: str) -> Decimal:
    """A decimal with at most two places, more than zero, no currency symbol."""
    if not _AMOUNT.fullmatch(text) or Decimal(text) <= 0:
        raise Refused("Invalid amount field")
    return Decimal(text)


def _required(values: dict[str, str], name: str) -> str:
    value = values.get(name, "").strip()
    if not value:
        raise Refused(f"Invalid {name} field")
    return value


def _url(values: dict[str, str], name: str) -> str:
    value = _required(values, name)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Refused(f"Invalid {name} field")
    return value


def local_phone(phone: str) -> str:
    """0771111111 however written: +263 77 111 1111, 263771111111, 077-111-1111."""
    digits = re.sub(r"[\s+\-()]", "", phone)
    if digits.startswith("263") and len(digits) == 12:
        return "0" + digits[3:]
    return digits


def read_web(values: dict[str, str]) -> Initiation:
    if values.get("status") != "Message":
        raise Refused("Invalid status field")
    return Initiation(
        reference=_required(values, "reference"),
        amount=_amount(values.get("amount", "")),
        resulturl=_url(values, "resulturl"),
        returnurl=_url(values, "returnurl"),
        additionalinfo=values.get("additionalinfo", ""),
        authemail=values.get("authemail", ""),
    )


def read_express(values: dict[str, str]) -> tuple[Initiation, Outcome]:
    """The initiation and the test script it plays; Refused for what Paynow refuses."""
    if values.get("status") != "Message":
        raise Refused("Invalid status field")
    method = values.get("method", "").strip().lower()
    if method not in (*MOBILE_MONEY, *CARDS):
        raise Refused("Invalid method field")
    initiation = Initiation(
        reference=_required(values, "reference"),
        amount=_amount(values.get("amount", "")),
        resulturl=_url(values, "resulturl"),
        returnurl=values.get("returnurl", ""),
        additionalinfo=values.get("additionalinfo", ""),
        # Paynow requires it for express checkout (the customer's login in test mode).
        authemail=_required(values, "authemail"),
        method=method,
        phone=local_phone(values.get("phone", "")),
    )
    return initiation, _script(method, initiation.phone, values)


def _script(method: str, phone: str, values: dict[str, str]) -> Outcome:
    if method in MOBILE_MONEY:
        if not phone:
            raise Refused("Invalid phone field")
        plays = {test_phone(digit): digit for digit in DIGITS}
        given, what = phone, "phone"
    else:
        _required(values, "merchanttrace")  # Paynow requires it with a card token
        plays = {test_card_token(method, digit): digit for digit in DIGITS}
        given, what = _required(values, "token"), "token"
    digit = plays.get(given)
    if digit is None:
        raise Refused(f"Invalid {what} field: in test mode use one of {', '.join(plays)}")
    if digit == INSUFFICIENT:
        raise Refused(INSUFFICIENT_BALANCE)
    return SCRIPTS[digit]
