"""The page at a web checkout's browserurl, where a person pays or cancels (Paynow's test
mode: "Faked Success"). Plain HTML, no script, no third-party asset."""

from __future__ import annotations

import base64
import hashlib
from html import escape

from paynow_simulator import protocol
from paynow_simulator.transactions import Transaction

PAY = "pay"
CANCEL = "cancel"
DECISIONS = {PAY: protocol.PAID, CANCEL: protocol.CANCELLED}

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}"
    "dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem}dt{color:#555}dd{margin:0}"
    "button{font-size:1.1rem;padding:.7rem;width:100%;margin:.3rem 0}"
    ".note{background:#fff4d6;padding:.5rem}"
)
# The one inline style is allowed by its hash; nothing else may load or run.
CSP = (
    "default-src 'none'; "
    f"style-src 'sha256-{base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()}'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def render(transaction: Transaction) -> str:
    initiation = transaction.initiation
    details = [
        ("Merchant", transaction.merchant.integration_id),
        ("Reference", initiation.reference),
        ("Amount", f"{initiation.amount:.2f}"),
        ("Details", initiation.additionalinfo),
        ("Paynow reference", transaction.paynow_reference),
        ("Status", transaction.status),
    ]
    rows = "".join(f"<dt>{escape(name)}</dt><dd>{escape(value)}</dd>" for name, value in details)
    if transaction.status == protocol.CREATED:
        action = (
            '<form method="post">'
            f'<button type="submit" name="decision" value="{PAY}">Pay (test mode)</button>'
            f'<button type="submit" name="decision" value="{CANCEL}">Cancel</button>'
            "</form>"
        )
    else:
        action = f'<p><a href="{escape(initiation.returnurl)}">Return to the merchant</a></p>'
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Paynow (simulator)</title><style>{STYLE}</style></head><body>"
        "<h1>Paynow</h1>"
        '<p class="note">Test mode: no money moves.</p>'
        f"<dl>{rows}</dl>{action}</body></html>"
    )
