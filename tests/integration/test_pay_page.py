"""The pay page in a real browser (Debian's headless chromium, phone-sized): a payer opens
the invoice's payment link, pays by card on Paynow's page (the simulator's) and comes back
to see it paid; pays by EcoCash after a refusal; and sees plainly when a link is paid,
void, expired or unknown. Each payment ends with the invoice paid in full."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from shared.money import format_cents
from tests.integration.browser import PHONE, headless_chromium
from tests.integration.conftest import Person, Suite
from tests.integration.payments_helpers import (
    INSUFFICIENT_BALANCE,
    PAID_SOON,
    SETTLE_SECONDS,
    Billed,
    billed_organization,
    billed_organizations,
    expire_payment_link,
    payments_of,
    wait_for_money,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def browser() -> Iterator[Chrome]:
    with headless_chromium() as chromium:
        yield chromium


def text_of(browser: Chrome, element_id: str) -> str:
    return browser.find_element(By.ID, element_id).text


def wait_for_text(browser: Chrome, element_id: str, part: str) -> str:
    WebDriverWait(browser, SETTLE_SECONDS).until(
        lambda _: part in text_of(browser, element_id),
        f"{part!r} in #{element_id}",
    )
    return text_of(browser, element_id)


def open_pay_page(suite: Suite, browser: Chrome, billed: Billed) -> None:
    browser.get(f"{suite.url}/pay/{billed.token}")
    assert billed.invoice["invoice_number"] in text_of(browser, "heading")
    assert text_of(browser, "amount-due") == format_cents(billed.total)
    assert browser.find_element(By.ID, "pay-form").is_displayed()


def choose(browser: Chrome, method: str) -> None:
    browser.find_element(By.CSS_SELECTOR, f"input[name=method][value={method}]").click()


def pay(browser: Chrome) -> None:
    browser.find_element(By.ID, "pay-button").click()


def paid_in_full(billed: Billed) -> tuple[str, int, int, int]:
    return "PAID", billed.total, 0, 0


def test_a_payer_pays_by_card_on_paynow_s_page_and_comes_back_to_see_it_paid(
    suite: Suite, staff: Person, browser: Chrome
) -> None:
    billed = billed_organization(suite, staff)
    open_pay_page(suite, browser, billed)
    # Made for a phone: the page is laid out at the phone's width, with nothing to scroll
    # sideways.
    width, scroll_width = browser.execute_script(
        "return [window.innerWidth, document.documentElement.scrollWidth]"
    )
    assert width == PHONE["width"] and scroll_width <= width

    choose(browser, "visa")
    assert not browser.find_element(By.ID, "phone").is_displayed()
    pay(browser)

    paynow = suite.supervisor.env["PAYNOW_URL"]
    WebDriverWait(browser, SETTLE_SECONDS).until(
        lambda _: browser.current_url.startswith(paynow), "Paynow's page"
    )
    assert format(billed.total / 100, ".2f") in browser.page_source
    browser.find_element(By.CSS_SELECTOR, "button[name=decision][value=pay]").click()

    WebDriverWait(browser, SETTLE_SECONDS).until(
        lambda _: browser.current_url.startswith(f"{suite.url}/pay/{billed.token}?payment="),
        "back on the pay page",
    )
    outcome = wait_for_text(browser, "outcome", "Paid")
    assert format_cents(billed.total) in outcome and "Visa" in outcome
    wait_for_money(suite, billed, paid_in_full(billed))
    [paid] = payments_of(suite, billed)
    assert (paid["status"], paid["method"], paid["amount"]) == ("PAID", "PAYNOW_VISA", billed.total)
    assert browser.current_url.endswith(f"?payment={paid['id']}")
    assert csp_violations(browser) == []


def test_a_payer_pays_by_ecocash_after_a_refusal_watching_the_progress(
    suite: Suite, staff: Person, browser: Chrome
) -> None:
    billed = billed_organization(suite, staff)
    open_pay_page(suite, browser, billed)
    choose(browser, "ecocash")
    phone = browser.find_element(By.ID, "phone")
    phone.send_keys(INSUFFICIENT_BALANCE)
    pay(browser)
    refusal = wait_for_text(browser, "outcome", "Payment failed")
    assert "try again" in refusal
    assert browser.find_element(By.ID, "pay-form").is_displayed()

    phone.clear()
    phone.send_keys(PAID_SOON)
    pay(browser)
    wait_for_text(browser, "outcome", "Paid")
    wait_for_money(suite, billed, paid_in_full(billed))
    statuses = sorted((p["status"], p["method"]) for p in payments_of(suite, billed))
    assert statuses == [("FAILED", "PAYNOW_ECOCASH"), ("PAID", "PAYNOW_ECOCASH")]
    assert not browser.find_element(By.ID, "pay-form").is_displayed()

    # Back to the page itself: the invoice is paid.
    browser.get(f"{suite.url}/pay/{billed.token}")
    assert "is paid" in text_of(browser, "heading")
    assert text_of(browser, "amount-due") == format_cents(0)


def test_paid_void_expired_and_unknown_links_say_so_and_take_no_payment(
    suite: Suite, staff: Person, browser: Chrome
) -> None:
    paid, voided, expired = billed_organizations(suite, staff, count=3)
    recorded = suite.http(
        "POST",
        f"/v1/admin/organizations/{paid.org_id}/payments",
        json={"invoice_id": paid.invoice_id, "amount": paid.total, "method": "CASH"},
        headers=staff.auth,
    )
    assert recorded.status_code == 201, recorded.text
    wait_for_money(suite, paid, paid_in_full(paid))
    void = suite.http("POST", f"/v1/admin/invoices/{voided.invoice_id}/void", headers=staff.auth)
    assert void.status_code == 200, void.text
    expire_payment_link(suite, expired.invoice_id)

    for billed, heading, notice in (
        (paid, "is paid", "Nothing is due"),
        (voided, "was cancelled", "nothing to pay"),
        (expired, "This payment link has expired", "ask CVT for a new link"),
    ):
        browser.get(f"{suite.url}/pay/{billed.token}")
        assert heading in text_of(browser, "heading")
        assert notice in text_of(browser, "notice")
        assert not browser.find_element(By.ID, "pay-form").is_displayed()

    unknown = f"{suite.url}/pay/{'x' * 43}"
    answer = requests.get(unknown, timeout=15)
    assert answer.status_code == 404 and answer.headers["Content-Type"].startswith("text/html")
    browser.get(unknown)
    assert text_of(browser, "heading") == "Payment link not found"
    assert not browser.find_element(By.ID, "invoice").is_displayed()
    assert csp_violations(browser) == []


def csp_violations(browser: Chrome) -> list[str]:
    """What the browser refused to run or load on the last page, by the page's policy."""
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if "Content Security Policy" in entry["message"]
    ]
