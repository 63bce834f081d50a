"""Initiation requests as merchants send them, for the unit tests."""

from __future__ import annotations

import uuid

from paynow_simulator.merchants import Merchant

MERCHANT = Merchant("30001", str(uuid.uuid4()))


def web_values(**changes: str) -> dict[str, str]:
    return {
        "resulturl": "http://merchant.test/result",
        "returnurl": "http://merchant.test/return",
        "reference": "INV-1",
        "amount": "12.5",
        "id": MERCHANT.integration_id,
        "additionalinfo": "Invoice INV-1",
        "authemail": "",
        "status": "Message",
    } | changes


def express_values(method: str = "ecocash", **changes: str) -> dict[str, str]:
    values = web_values(authemail="payer@example.co.zw", method=method)
    if method in ("vmc", "zimswitch"):
        values |= {"token": "1" * 32, "merchanttrace": "trace-1"}
    else:
        values |= {"phone": "0771111111"}
    return values | changes
