"""The printable invoice and the pay page are the gateway's pages: rendered from the
services' data, every value escaped, their scripts and styles allowed by the
Content-Security-Policy (by hash)."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from gateway.pages import (
    INVOICE_PAGE,
    PAGES,
    PAY_PAGE,
    content_security_policy,
    invoice_html,
    pay_html,
    pay_refusal_html,
)

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


LINK_INVOICE = {
    "id": "inv1",
    "invoice_number": "INV-2026-000042",
    "period_start": "2026-10-01T00:00:00+00:00",
    "period_end": "2026-11-01T00:00:00+00:00",
    "issued_at": "2026-11-01T01:00:00+00:00",
    "due_at": "2026-11-15T01:00:00+00:00",
    "total": 123456,
    "amount_paid": 3456,
    "amount_due": 120000,
    "status": "PARTIAL",
    "line_items": [
        {"description": "Till <b>1</b>", "quantity": 1, "unit_price": 123456, "total": 123456}
    ],
}
TOKEN = "tok_en-\"'<>"


def link(state: str, live_payment: dict | None = None) -> dict:
    return {"state": state, "invoice": LINK_INVOICE, "live_payment": live_payment}


def test_a_payable_link_shows_the_invoice_and_the_form_with_every_value_escaped() -> None:
    page = pay_html(TOKEN, link("payable", {"id": "pay<1>"}))
    assert "<title>Pay invoice INV-2026-000042</title>" in page
    assert 'data-token="tok_en-&quot;&#x27;&lt;&gt;"' in page
    assert 'data-live="pay&lt;1&gt;"' in page
    assert "Till &lt;b&gt;1&lt;/b&gt;" in page
    assert "2026-10-01 to 2026-10-31" in page
    for amount in ("USD 1,234.56", "USD 34.56", "USD 1,200.00"):
        assert amount in page
    assert 'placeholder="1200.00"' in page
    assert '<form id="pay-form" novalidate >' in page
    for method in ("ecocash", "onemoney", "innbucks", "visa", "mastercard"):
        assert f'value="{method}"' in page
    assert 'name="viewport"' in page
    assert not re.search(r"(src|href)=", page.split("<script>")[0].replace('href=""', ""))


@pytest.mark.parametrize(
    ("state", "heading"),
    [
        ("paid", "Invoice INV-2026-000042 is paid"),
        ("void", "Invoice INV-2026-000042 was cancelled"),
        ("expired", "This payment link has expired"),
    ],
)
def test_a_link_that_cannot_be_paid_says_why_and_offers_no_form(state: str, heading: str) -> None:
    page = pay_html(TOKEN, link(state, {"id": "live"}))
    assert f'<h1 id="heading">{heading}</h1>' in page
    assert '<form id="pay-form" novalidate hidden>' in page
    assert 'data-live=""' in page


@pytest.mark.parametrize("status", [404, 503])
def test_an_unknown_link_or_payments_down_is_a_page_without_an_invoice(status: int) -> None:
    page = pay_refusal_html(status)
    assert '<section id="invoice" hidden>' in page
    assert '<form id="pay-form" novalidate hidden>' in page
    assert 'data-token=""' in page


def test_the_policy_allows_the_pay_page_s_script_and_style_by_their_hashes() -> None:
    policy = dict(d.split(" ", 1) for d in content_security_policy(PAGES).split("; "))
    page = pay_html(TOKEN, link("payable"))
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        [block] = re.findall(rf"<{tag}>(.*?)</{tag}>", PAY_PAGE.template, re.DOTALL)
        digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy[directive].split()
        assert f"<{tag}>{block}</{tag}>" in page
    # Posting a form anywhere stays forbidden: the script pays with fetch, same origin only.
    assert policy["form-action"] == "'none'" and policy["connect-src"] == "'self'"
