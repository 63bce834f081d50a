"""Sign-in throttling over real HTTP: someone guessing from a shared address (an office NAT,
a mobile carrier's gateway) stops new clients there, but not the people who have signed in
from their own browser or app before (OWASP's device cookie).

Each test connects from an address of its own (any 127.x.y.z reaches this machine), so the
counts it runs up never touch 127.0.0.1, where the other tests sign in."""

from __future__ import annotations

import ipaddress
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from services.identity import throttle
from tests.integration.conftest import PASSWORD, TRUSTED_PROXY, Suite

pytestmark = pytest.mark.integration

SIGN_IN = "/v1/auth/sign-in"
GUESSES_PER_ADDRESS = throttle.MAX_FAILURES_PER_IP
GUESSES_PER_EMAIL = throttle.MAX_FAILURES_PER_EMAIL
GUESSES_PER_DEVICE = throttle.MAX_FAILURES_PER_DEVICE


class FromAddress(HTTPAdapter):
    """Connects from `address` instead of 127.0.0.1."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, source_address=(self.address, 0), **kwargs)


def shared_address() -> str:
    return f"127.{secrets.randbelow(250) + 1}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


class Client:
    """One browser at `address`: it keeps the device cookie it is given, and sends it back
    (by hand: the cookie is Secure, and these tests speak plain HTTP)."""

    def __init__(self, suite: Suite, address: str) -> None:
        self.suite = suite
        self.http = requests.Session()
        self.http.mount("http://", FromAddress(address))
        self.device = ""

    def sign_in(
        self, email: str, password: str, forwarded_for: str | None = None
    ) -> requests.Response:
        headers = {"Cookie": f"cvt_device={self.device}"} if self.device else {}
        if forwarded_for is not None:
            headers["X-Forwarded-For"] = forwarded_for
        response = self.http.post(
            self.suite.url + SIGN_IN,
            json={"email": email, "password": password},
            headers=headers,
            timeout=15,
        )
        self.device = response.cookies.get("cvt_device") or self.device
        return response


def guess_from(
    suite: Suite, address: str, emails: list[str], forwarded_for: str | None = None
) -> list[int]:
    attacker = Client(suite, address)
    return [
        attacker.sign_in(email, f"guess-{uuid.uuid4().hex[:8]}", forwarded_for).status_code
        for email in emails
    ]


def documentation_address() -> str:
    """A random client address on the internet (IPv6's documentation range), as the
    gateway writes it."""
    return str(ipaddress.ip_address(f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"))


def random_emails(count: int) -> list[str]:
    return [f"guess-{uuid.uuid4().hex[:10]}@example.co.zw" for _ in range(count)]


def assert_throttled(response: requests.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0


def test_guessing_from_a_shared_address_stops_new_clients_there_but_not_known_ones(
    suite: Suite,
) -> None:
    address = shared_address()
    person = suite.new_person()
    known = Client(suite, address)
    first = known.sign_in(person.email, PASSWORD)
    assert first.status_code == 200, first.text
    sessions = suite.http(
        "GET", "/v1/auth/sessions", headers={"Authorization": f"Bearer {first.json()['token']}"}
    ).json()["items"]
    assert [s["ip_address"] for s in sessions if s["current"]] == [address]
    first_device = known.device

    assert (
        guess_from(suite, address, random_emails(GUESSES_PER_ADDRESS))
        == [401] * GUESSES_PER_ADDRESS
    )
    assert_throttled(Client(suite, address).sign_in(person.email, PASSWORD))

    again = known.sign_in(person.email, PASSWORD)
    assert again.status_code == 200, again.text
    assert again.json()["user"]["id"] == person.user_id
    assert known.device not in ("", first_device)  # a fresh token at every sign-in
    stale = Client(suite, address)
    stale.device = first_device
    assert_throttled(stale.sign_in(person.email, PASSWORD))


def test_behind_a_trusted_proxy_each_client_is_limited_by_its_own_address(
    suite: Suite,
) -> None:
    """An ingress controller in front of the gateway: every request comes from it, with the
    client's address in X-Forwarded-For. Guessing from one client address stops new
    clients at that address only; a header from anyone but the proxy changes nothing."""
    guesser, other = documentation_address(), documentation_address()
    person = suite.new_person()
    assert (
        guess_from(
            suite, TRUSTED_PROXY, random_emails(GUESSES_PER_ADDRESS), f"198.51.100.1, {guesser}"
        )
        == [401] * GUESSES_PER_ADDRESS
    )
    assert_throttled(Client(suite, TRUSTED_PROXY).sign_in(person.email, PASSWORD, guesser))

    elsewhere = Client(suite, TRUSTED_PROXY).sign_in(person.email, PASSWORD, other)
    assert elsewhere.status_code == 200, elsewhere.text
    headers = {"Authorization": f"Bearer {elsewhere.json()['token']}"}
    sessions = suite.http("GET", "/v1/auth/sessions", headers=headers).json()["items"]
    assert [s["ip_address"] for s in sessions if s["current"]] == [other]

    # Not from the proxy: the header is the client's own claim, and the peer counts.
    direct = shared_address()
    spoofed = Client(suite, direct).sign_in(person.email, PASSWORD, guesser)
    assert spoofed.status_code == 200, spoofed.text
    headers = {"Authorization": f"Bearer {spoofed.json()['token']}"}
    sessions = suite.http("GET", "/v1/auth/sessions", headers=headers).json()["items"]
    assert [s["ip_address"] for s in sessions if s["current"]] == [direct]


def test_the_device_cookie_is_long_lived_http_only_secure_and_sent_only_to_sign_in(
    suite: Suite,
) -> None:
    person = suite.new_person()
    response = suite.http("POST", SIGN_IN, json={"email": person.email, "password": PASSWORD})
    [device_cookie] = [
        value
        for value in response.raw.headers.getlist("Set-Cookie")
        if value.startswith("cvt_device=")
    ]
    attributes = [part.strip() for part in device_cookie.split(";")]
    assert {"HttpOnly", "Secure", "SameSite=Lax", "Path=/v1/auth/sign-in"} <= set(attributes)
    expires = next(a.split("=", 1)[1] for a in attributes if a.startswith("Expires="))
    assert parsedate_to_datetime(expires) > datetime.now(UTC) + timedelta(days=90)
    assert device_cookie.startswith(f"cvt_device={response.json()['device_token']};")


def test_guessing_someones_password_does_not_lock_them_out_of_their_known_client(
    suite: Suite,
) -> None:
    person = suite.new_person()
    laptop = Client(suite, shared_address())
    assert laptop.sign_in(person.email, PASSWORD).status_code == 200
    app = suite.sign_in(person.email)  # an app: no cookies, the token in the body

    attacker_address = shared_address()
    assert (
        guess_from(suite, attacker_address, [person.email] * GUESSES_PER_EMAIL)
        == [401] * GUESSES_PER_EMAIL
    )
    assert_throttled(Client(suite, shared_address()).sign_in(person.email, PASSWORD))

    assert laptop.sign_in(person.email, PASSWORD).status_code == 200
    by_app = suite.http(
        "POST",
        SIGN_IN,
        json={"email": person.email, "password": PASSWORD, "device_token": app.device},
    )
    assert by_app.status_code == 200, by_app.text


def test_a_stolen_device_cookie_gives_only_a_few_guesses(suite: Suite) -> None:
    person = suite.new_person()
    victim = Client(suite, shared_address())
    assert victim.sign_in(person.email, PASSWORD).status_code == 200
    thief = Client(suite, shared_address())
    thief.device = victim.device
    guesses = [
        thief.sign_in(person.email, f"guess-{i}-xxxx").status_code
        for i in range(GUESSES_PER_DEVICE)
    ]
    assert guesses == [401] * GUESSES_PER_DEVICE
    assert_throttled(thief.sign_in(person.email, PASSWORD))


def test_a_known_client_of_one_person_is_a_new_client_for_another(suite: Suite) -> None:
    first, second = suite.new_person(), suite.new_person()
    address = shared_address()
    shared_browser = Client(suite, address)
    assert shared_browser.sign_in(first.email, PASSWORD).status_code == 200
    assert (
        guess_from(suite, address, random_emails(GUESSES_PER_ADDRESS))
        == [401] * GUESSES_PER_ADDRESS
    )
    assert_throttled(shared_browser.sign_in(second.email, PASSWORD))
    assert shared_browser.sign_in(first.email, PASSWORD).status_code == 200
