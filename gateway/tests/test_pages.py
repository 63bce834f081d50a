"""The printable invoice is the gateway's page: rendered from billing's invoice data, every
value escaped, and its style allowed by the Content-Security-Policy (by hash)."""

from __future__ import annotations

import base64
import hashlib
import re

from gateway.pages import INVOICE_PAGE, PAGES, content_security_policy, invoice_html

INVOICE = {
    "invoice_number": "INV-2026-000042",
    "period_start": "2026-10-01T00:00:00+00:00",
    "period_end": "2026-11-01T00:00:00+00:00",
    "issued_at": "2026-11-01T01:00:00+00:00",
    "due_at": None,
    "status": "ISSUED",
    "subtotal": 123456,
    "tax": 0,
    "total": 123456,
    "amount_paid": 0,
    "amount_due": 123456,
    "line_items": [
        {"description": "Till <b>1</b>", "quantity": 1200, "unit_price": 100, "total": 123456}
    ],
}
ORGANIZATION = {
    "name": "Acme <script>alert(1)</script>",
    "email": "ops@acme.co.zw",
    "address": "1 Samora Machel Ave",
    "city": None,
    "country": "Zimbabwe",
}


def test_the_invoice_page_shows_the_invoice_with_every_value_escaped() -> None:
    page = invoice_html(INVOICE, ORGANIZATION)
    assert "<title>Invoice INV-2026-000042</title>" in page
    assert "Acme &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page
    assert "Till &lt;b&gt;1&lt;/b&gt;" in page
    assert "1 Samora Machel Ave Zimbabwe" in page
    assert "USD 1,234.56" in page and "1,200" in page
    assert "2026-10-01 to 2026-11-01" in page
    assert "<tr><td>Due</td><td>-</td></tr>" in page


def test_the_policy_allows_the_invoice_page_s_style_by_its_hash() -> None:
    [style] = re.findall(r"<style>(.*?)</style>", INVOICE_PAGE.template, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    policy = dict(d.split(" ", 1) for d in content_security_policy(PAGES).split("; "))
    assert f"'sha256-{digest}'" in policy["style-src"].split()
    # The rendered page carries the very block that was hashed.
    assert f"<style>{style}</style>" in invoice_html(INVOICE, ORGANIZATION)
