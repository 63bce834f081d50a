"""CUID identifiers, as the seed's `@default(cuid())`.

Layout (25 chars, all lowercase base36): "c" + 8 timestamp + 4 counter + 4 fingerprint
+ 8 random. The timestamp prefix keeps ids roughly sortable by creation time, which is why
the seed chose CUIDs over UUIDs.
"""

from __future__ import annotations

import itertools
import os
import secrets
import socket
import threading
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_BASE = 36
_BLOCK = 4
_counter = itertools.count(secrets.randbelow(_BASE**_BLOCK))
_lock = threading.Lock()


def _base36(number: int, width: int) -> str:
    digits = [_ALPHABET[0]] * width
    for position in range(width - 1, -1, -1):
        number, rem = divmod(number, _BASE)
        digits[position] = _ALPHABET[rem]
    return "".join(digits)


def _fingerprint() -> str:
    host = sum(socket.gethostname().encode()) + _BASE
    return _base36(os.getpid(), 2) + _base36(host, 2)


_FINGERPRINT = _fingerprint()


def cuid() -> str:
    with _lock:
        count = next(_counter) % (_BASE**_BLOCK)
    return (
        "c"
        + _base36(int(time.time() * 1000), 8)
        + _base36(count, _BLOCK)
        + _FINGERPRINT
        + _base36(secrets.randbelow(_BASE**8), 8)
    )


def is_cuid(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) == 25
        and value[0] == "c"
        and all(ch in _ALPHABET for ch in value)
    )
