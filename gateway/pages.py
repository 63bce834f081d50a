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
from pathlib import Path
from string import Template
from typing import Any

from shared.money import format_cents

_HERE = Path(__file__).parent
DOCS_PAGE = (_HERE / "docs.html").read_text()
INVOICE_PAGE = Template((_HERE / "invoice.html").read_text())
# Every page the gateway serves, as its template.
PAGES = (DOCS_PAGE, INVOICE_PAGE.template)
_INLINE_BLOCK = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def invoice_html(invoice: dict[str, Any], organization: dict[str, Any]) -> str:
    """A printable page a client can hand to their accountant (every value escaped)."""

    def day(value: str | None) -> str:
        return value[:10] if value else "-"

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
        "period_start": day(invoice["period_start"]),
        "period_end": day(invoice["period_end"]),
        "issued": day(invoice["issued_at"]),
        "due": day(invoice["due_at"]),
        "status": invoice["status"],
        **{
            key: format_cents(invoice[key])
            for key in ("subtotal", "tax", "total", "amount_paid", "amount_due")
        },
    }
    escaped = {key: html.escape(str(value)) for key, value in values.items()}
    return INVOICE_PAGE.substitute(escaped, rows=rows)


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
