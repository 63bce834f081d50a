"""The gateway's HTML pages and the Content-Security-Policy they are served with.

The gateway owns presentation: billing returns an invoice as data (its `get_invoice`
RPC) and the printable page is rendered here. Only the inline scripts and styles of these
templates may run on the gateway's pages: the policy allows each by its hash, so a page
that changes its script or style stays allowed without anyone touching the policy."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from string import Template
from typing import Any

from shared.money import format_cents

_HERE = Path(__file__).parent
DOCS_PAGE = (_HERE / "docs.html").read_text()
INVOICE_PAGE = Template((_HERE / "invoice.html").read_text())
PAY_PAGE = Template((_HERE / "pay.html").read_text())
# Every page the gateway serves, as its template.
PAGES = (DOCS_PAGE, INVOICE_PAGE.template, PAY_PAGE.template)
_INLINE_BLOCK = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def _day(value: str | None) -> str:
    return value[:10] if value else "-"


def invoice_html(invoice: dict[str, Any], organization: dict[str, Any]) -> str:
    """A printable page a client can hand to their accountant (every value escaped)."""
    rows = "".join(
        "<tr><td>{}</td><td class=n>{:,}</td><td class=n>{}</td><td class=n>{}</td></tr>".format(
            html.escape(item["description"]),
            item["quantity"],
            format_cents(item["unit_price"]),
            format_cents(item["total"]),
        )
        for item in invoice["line_items"]
    )
    address = " ".join(
        filter(
            None,
            [organization.get("address"), organization.get("city"), organization.get("country")],
        )
    )
    values = {
        "number": invoice["invoice_number"],
        "organization": organization["name"],
        "address": address,
        "email": organization["email"],
        "period_start": _day(invoice["period_start"]),
        "period_end": _day(invoice["period_end"]),
        "issued": _day(invoice["issued_at"]),
        "due": _day(invoice["due_at"]),
        "status": invoice["status"],
        **{
            key: format_cents(invoice[key])
            for key in ("subtotal", "tax", "total", "amount_paid", "amount_due")
        },
    }
    escaped = {key: html.escape(str(value)) for key, value in values.items()}
    return INVOICE_PAGE.substitute(escaped, rows=rows)


# What the pay page says in each state of its link: heading, notice, and its tone.
_LINK_STATES = {
    "payable": ("Pay invoice {number}", "Amount due: {due}", ""),
    "paid": ("Invoice {number} is paid", "Nothing is due on this invoice. Thank you.", "good"),
    "void": (
        "Invoice {number} was cancelled",
        "CVT voided this invoice: there is nothing to pay on it.",
        "bad",
    ),
    "expired": (
        "This payment link has expired",
        "Sign in to pay invoice {number}, or ask CVT for a new link.",
        "bad",
    ),
}
_REFUSALS = {
    404: ("Payment link not found", "This link is not valid: check the one in your invoice email."),
    503: ("Payments are not answering", "Nothing was charged. Try again in a minute."),
}


def pay_html(token: str, link: dict[str, Any]) -> str:
    """The pay page of a payment link (`link`: payments' describe_payment_link), every
    value escaped. Its script takes the payment (gateway/pay.html)."""
    invoice = link["invoice"]
    number = invoice["invoice_number"] or ""
    heading, notice, tone = _LINK_STATES[link["state"]]
    payable = link["state"] == "payable"
    live = link.get("live_payment") if payable else None
    rows = "".join(
        "<tr><td>{}</td><td class=n>{:,}</td><td class=n>{}</td></tr>".format(
            html.escape(item["description"]), item["quantity"], format_cents(item["total"])
        )
        for item in invoice["line_items"]
    )
    due = invoice["amount_due"]
    values = {
        "title": heading.format(number=number),
        "heading": heading.format(number=number),
        "notice": notice.format(number=number, due=format_cents(due)),
        "tone": tone,
        "token": token,
        "live": live["id"] if live else "",
        "form_hidden": "" if payable else "hidden",
        "invoice_hidden": "",
        "number": number,
        "period": _period(invoice["period_start"], invoice["period_end"]),
        "issued": _day(invoice["issued_at"]),
        "due": _day(invoice["due_at"]),
        "total": format_cents(invoice["total"]),
        "amount_paid": format_cents(invoice["amount_paid"]),
        "amount_due": format_cents(due),
        "amount_due_dollars": f"{due // 100}.{due % 100:02d}",
    }
    escaped = {key: html.escape(str(value)) for key, value in values.items()}
    return PAY_PAGE.substitute(escaped, rows=rows)


def pay_refusal_html(status: int) -> str:
    """The pay page when there is nothing to show: an unknown link, or payments down."""
    heading, notice = _REFUSALS[status]
    blanks = ("token", "live", "number", "period", "issued", "due", "rows")
    values = dict.fromkeys(blanks, "") | {
        "title": heading,
        "heading": heading,
        "notice": notice,
        "tone": "bad",
        "form_hidden": "hidden",
        "invoice_hidden": "hidden",
    }
    money = ("total", "amount_paid", "amount_due", "amount_due_dollars")
    return PAY_PAGE.substitute(values | dict.fromkeys(money, ""))


def _period(start: str, end: str) -> str:
    """An invoice's period as people write it: the end day included (it is stored as the
    exclusive end)."""
    last = datetime.fromisoformat(end) - timedelta(days=1)
    return f"{start[:10]} to {last:%Y-%m-%d}"


def _sha256_source(text: str) -> str:
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def content_security_policy(pages: Iterable[str]) -> str:
    """Nothing loads but the pages' own inline blocks (by hash) and same-origin fetches."""
    allowed: dict[str, set[str]] = {"script": set(), "style": set()}
    for page in pages:
        for tag, body in _INLINE_BLOCK.findall(page):
            allowed[tag].add(_sha256_source(body))
    return "; ".join(
        [
            "default-src 'none'",
            "script-src " + (" ".join(sorted(allowed["script"])) or "'none'"),
            "style-src " + (" ".join(sorted(allowed["style"])) or "'none'"),
            "connect-src 'self'",  # /v1/docs fetches openapi.json
            "img-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
