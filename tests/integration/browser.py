"""A real browser for the integration tests: Debian's headless chromium, driven by
Selenium through Debian's own chromedriver (same version as the browser, no download).
`make install` installs both (ops/browser.sh)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# A phone's screen: the pay page is mostly opened from an email on one. (Headless
# chromium's windows are at least 500 px wide; emulation makes the page see the phone.)
PHONE = {"width": 390, "height": 844, "pixelRatio": 3.0}
PAGE_LOAD_TIMEOUT_SECONDS = 30

HOW_TO_INSTALL = (
    "The browser tests need Debian's chromium and chromium-driver packages "
    f"({CHROMIUM} and {CHROMEDRIVER} are missing): run `make install`, or "
    "`apt-get install -y --no-install-recommends chromium chromium-driver`."
)


@contextmanager
def headless_chromium() -> Iterator[webdriver.Chrome]:
    """A fresh headless chromium with a phone-sized window; quit when done."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        raise RuntimeError(HOW_TO_INSTALL)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespace to sandbox with
        "--disable-dev-shm-usage",  # a container's /dev/shm is small
        f"--window-size={PHONE['width']},{PHONE['height']}",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(argument)
    options.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE})
    # The console, so that tests can see what the Content-Security-Policy refused.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    browser.set_page_load_timeout(PAGE_LOAD_TIMEOUT_SECONDS)
    try:
        yield browser
    finally:
        browser.quit()
