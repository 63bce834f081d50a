"""Paynow's wire format, once for both sides: the payments service's client and the
simulator speak it through these helpers, so a difference between them cannot hide.

A message is a list of (field, value) pairs in wire order, because the hash covers the
values in the order they appear; the order is the point, so it is kept explicit (blank
values too: they are part of the hash).
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

HASH = "hash"
OK = "Ok"
ERROR = "Error"
MESSAGE = "Message"  # the status field of every initiation request

# Transaction statuses, as Paynow spells them on the wire.
CREATED = "Created"
SENT = "Sent"
PAID = "Paid"
AWAITING_DELIVERY = "Awaiting Delivery"
DELIVERED = "Delivered"
CANCELLED = "Cancelled"
FAILED = "Failed"
DISPUTED = "Disputed"
REFUNDED = "Refunded"
STATUSES = (
    CREATED,
    SENT,
    PAID,
    AWAITING_DELIVERY,
    DELIVERED,
    CANCELLED,
    FAILED,
    DISPUTED,
    REFUNDED,
)

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
    """Uppercase hex SHA-512 of the values joined, then the integration key. Keys are GUIDs
    and Paynow hashes with their lowercase form (the official SDKs lowercase it too)."""
    return hashlib.sha512(("".join(values) + key.lower()).encode("utf-8")).hexdigest().upper()


def signature(message: Message, key: str) -> str:
    return hash_of((value for name, value in message if name.lower() != HASH), key)


def sign(message: Message, key: str) -> Message:
    return [*message, (HASH, signature(message, key))]


def is_signed_by(message: Message, key: str) -> bool:
    given = fields(message).get(HASH, "")
    # As bytes: compare_digest refuses str with non-ASCII characters, which anyone can post.
    return hmac.compare_digest(given.encode("utf-8"), signature(message, key).encode("ascii"))
