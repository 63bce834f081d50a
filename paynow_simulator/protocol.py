"""Paynow's wire format as the simulator sends it: the field order of every message.

The generic helpers (encoding, parsing, the SHA-512 hash) live in `shared.paynow`, shared
with the payments service's client; they are re-exported here, so the simulator reads as
one protocol module.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.paynow import (
    CANCELLED,
    CREATED,
    DISPUTED,
    ERROR,
    HASH,
    INITIATE_PATH,
    OK,
    PAID,
    REFUNDED,
    REMOTE_PATH,
    SENT,
    Message,
    encode,
    encode_value,
    fields,
    hash_of,
    is_signed_by,
    parse,
    sign,
    signature,
)

__all__ = [
    "CANCELLED",
    "CONFIRM_PATH",
    "CREATED",
    "DISPUTED",
    "ERROR",
    "HASH",
    "INITIATE_PATH",
    "OK",
    "PAID",
    "POLL_PATH",
    "REFUNDED",
    "REMOTE_PATH",
    "SENT",
    "Message",
    "encode",
    "encode_value",
    "error_reply",
    "express_reply",
    "fields",
    "hash_of",
    "is_signed_by",
    "parse",
    "sign",
    "signature",
    "status_message",
    "web_reply",
]

# Where the simulator hands out poll URLs and its approval page (Paynow's own paths).
POLL_PATH = "/Interface/CheckPayment/"
CONFIRM_PATH = "/Payment/ConfirmPayment/"


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
