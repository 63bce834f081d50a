"""Paynow's wire format: url-encoded messages, their SHA-512 hash and the field order of
every message the simulator sends.

A message is a list of (field, value) pairs in wire order, because the hash covers the
values in the order they appear; a dict would lose neither order nor blanks today, but the
order is the point, so it is kept explicit.
"""

from __future__ import annotations

import hashlib
import hmac
import string
from collections.abc import Iterable
from urllib.parse import parse_qsl

Message = list[tuple[str, str]]

# Paynow's paths under its base URL. Paynow runs on IIS, whose paths are case-insensitive;
# the SDKs post to the lowercase ones and Paynow hands out the capitalised ones.
INITIATE_PATH = "/interface/initiatetransaction"
REMOTE_PATH = "/interface/remotetransaction"
POLL_PATH = "/Interface/CheckPayment/"
CONFIRM_PATH = "/Payment/ConfirmPayment/"

HASH = "hash"
OK = "Ok"
ERROR = "Error"

# Transaction statuses, as Paynow spells them on the wire.
CREATED = "Created"
SENT = "Sent"
PAID = "Paid"
CANCELLED = "Cancelled"
DISPUTED = "Disputed"
REFUNDED = "Refunded"

# Paynow encodes like .NET's HttpUtility.UrlEncode: these stay as they are, a space
# becomes "+", every other byte of the UTF-8 form is %xx in lowercase hex.
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-_.!*()")


def encode_value(value: str) -> str:
    out = []
    for byte in value.encode("utf-8"):
        char = chr(byte)
        if char in _UNRESERVED:
            out.append(char)
        elif char == " ":
            out.append("+")
        else:
            out.append(f"%{byte:02x}")
    return "".join(out)


def encode(message: Message) -> str:
    return "&".join(f"{encode_value(name)}={encode_value(value)}" for name, value in message)


def parse(body: str) -> Message:
    """Every pair in wire order, blank values kept (they are part of the hash)."""
    return parse_qsl(body, keep_blank_values=True)


def fields(message: Message) -> dict[str, str]:
    """Field values by lowercase name, for reading a message (not for hashing it)."""
    return {name.lower(): value for name, value in message}


def hash_of(values: Iterable[str], key: str) -> str:
    """Uppercase hex SHA-512 of the values joined, then the integration key."""
    return hashlib.sha512(("".join(values) + key).encode("utf-8")).hexdigest().upper()


def signature(message: Message, key: str) -> str:
    return hash_of((value for name, value in message if name.lower() != HASH), key)


def sign(message: Message, key: str) -> Message:
    return [*message, (HASH, signature(message, key))]


def is_signed_by(message: Message, key: str) -> bool:
    given = fields(message).get(HASH, "")
    return hmac.compare_digest(given, signature(message, key))


def error_reply(error: str) -> Message:
    """Paynow's refusal: no hash (the SDKs check none on an error)."""
    return [("status", ERROR), ("error", error)]


def web_reply(browser_url: str, poll_url: str, paynow_reference: str) -> Message:
    return [
        ("status", OK),
        ("browserurl", browser_url),
        ("pollurl", poll_url),
        ("paynowreference", paynow_reference),
    ]


def express_reply(
    poll_url: str, paynow_reference: str, extras: Iterable[tuple[str, str]] = ()
) -> Message:
    """`extras`: instructions for mobile money, authorizationcode and authorizationexpires
    for InnBucks, in the place Paynow puts them (after status)."""
    return [
        ("status", OK),
        *extras,
        ("paynowreference", paynow_reference),
        ("pollurl", poll_url),
    ]


def status_message(
    reference: str, paynow_reference: str, amount: str, status: str, poll_url: str
) -> Message:
    """The status post to the result URL and the poll reply: the same fields."""
    return [
        ("reference", reference),
        ("paynowreference", paynow_reference),
        ("amount", amount),
        ("status", status),
        ("pollurl", poll_url),
    ]
