"""Payments' Paynow client: initiation (web and express checkout), polls and status posts,
in Paynow's wire format (`shared.paynow`).

Nothing Paynow sends is believed unless its hash verifies with the integration key: the
initiation reply (its poll URL is where we later learn the truth), every poll reply and
every status post. Only error replies (`status=Error`) carry no hash, as Paynow sends them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

import requests

from shared import config
from shared import paynow as wire

log = logging.getLogger(__name__)

# Connect, read. Below the gateway's RPC deadline would be nicer still, but Paynow is slow
# at times; a payer whose request timed out gets the same attempt when they try again.
TIMEOUT_SECONDS = (5.0, 10.0)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class PaynowError(Exception):
    """Paynow could not be asked, or what it said cannot be used."""


class PaynowRefused(PaynowError):
    """Paynow answered `status=Error`; the message is Paynow's own (e.g. "Insufficient
    balance"), fit to show the payer."""


class PaynowUnreachable(PaynowError):
    """No answer, or not one Paynow would give (HTTP error): Paynow may or may not have
    acted on the request."""


class PaynowUntrusted(PaynowError):
    """An answer whose hash does not verify, or that lacks what Paynow always sends;
    `field` names the field at fault."""

    def __init__(self, message: str, field: str = "hash") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Initiated:
    poll_url: str
    paynow_reference: str
    browser_url: str | None  # web checkout
    instructions: str | None  # mobile money
    authorization_code: str | None  # InnBucks


@dataclass(frozen=True)
class StatusReport:
    """A verified poll reply or status post."""

    reference: str  # ours: the payment id
    paynow_reference: str
    amount: int | None  # cents; None if Paynow's amount does not read as one
    status: str  # Paynow's spelling (see `canonical_status`)
    poll_url: str


def to_wire_amount(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


_AMOUNT = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,2})?")


def from_wire_amount(text: str) -> int | None:
    """ "12.34", "12.5", "12" in cents; None for anything else."""
    text = text.strip()
    if not _AMOUNT.fullmatch(text):
        return None
    return int(Decimal(text) * 100)


_CANONICAL = {status.lower(): status for status in wire.STATUSES}


def canonical_status(text: str) -> str:
    """Paynow's status as it spells it ("paid" and "PAID" are "Paid"); unknown ones as given."""
    return _CANONICAL.get(text.strip().lower(), text.strip())


# (url, url-encoded body) -> the reply's body text; PaynowUnreachable when there is none.
Post = Callable[[str, str], str]


def post_form(url: str, body: str) -> str:
    try:
        response = requests.post(
            url,
            data=body.encode("ascii"),
            headers=FORM,
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise PaynowUnreachable(f"Paynow did not answer: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise PaynowUnreachable(f"Paynow answered HTTP {response.status_code}")
    return response.text


class PaynowClient:
    def __init__(
        self, base_url: str, integration_id: str, integration_key: str, post: Post = post_form
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.integration_id = integration_id.strip()
        self.integration_key = integration_key.strip()
        self._post = post

    @classmethod
    def from_settings(cls) -> PaynowClient:
        return cls(
            config.PAYNOW_URL.get(),
            config.PAYNOW_INTEGRATION_ID.get(),
            config.PAYNOW_INTEGRATION_KEY.get(),
        )

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.integration_id and self.integration_key)

    # --- initiation -----------------------------------------------------------------------

    def initiate_web(
        self,
        *,
        reference: str,
        amount: int,
        additional_info: str,
        auth_email: str,
        return_url: str,
        result_url: str,
    ) -> Initiated:
        """Web checkout: the payer pays on Paynow's page (`browser_url`)."""
        message = self._initiation(
            reference, amount, additional_info, auth_email, return_url, result_url
        )
        return self._initiate(wire.INITIATE_PATH, [*message, ("status", wire.MESSAGE)])

    def initiate_express(
        self,
        *,
        reference: str,
        amount: int,
        additional_info: str,
        auth_email: str,
        return_url: str,
        result_url: str,
        phone: str,
        method: str,
    ) -> Initiated:
        """Express checkout: Paynow asks the payer's phone (`method`: ecocash, onemoney,
        innbucks) to approve."""
        message = self._initiation(
            reference, amount, additional_info, auth_email, return_url, result_url
        )
        return self._initiate(
            wire.REMOTE_PATH,
            [*message, ("phone", phone), ("method", method), ("status", wire.MESSAGE)],
        )

    def _initiation(
        self,
        reference: str,
        amount: int,
        additional_info: str,
        auth_email: str,
        return_url: str,
        result_url: str,
    ) -> wire.Message:
        # The official SDKs' field order; Paynow hashes the values in the order sent.
        return [
            ("resulturl", result_url),
            ("returnurl", return_url),
            ("reference", reference),
            ("amount", to_wire_amount(amount)),
            ("id", self.integration_id),
            ("additionalinfo", additional_info),
            ("authemail", auth_email),
        ]

    def _initiate(self, path: str, message: wire.Message) -> Initiated:
        reply = self._ask(
            self.base_url + path, wire.encode(wire.sign(message, self.integration_key))
        )
        values = wire.fields(reply)
        poll_url = values.get("pollurl", "")
        if not poll_url or not values.get("paynowreference"):
            raise PaynowUntrusted(
                "Paynow's initiation reply lacks pollurl or paynowreference", "pollurl"
            )
        return Initiated(
            poll_url=poll_url,
            paynow_reference=values["paynowreference"],
            browser_url=values.get("browserurl") or None,
            instructions=values.get("instructions") or None,
            authorization_code=values.get("authorizationcode") or None,
        )

    # --- what Paynow says about a transaction ---------------------------------------------

    def poll(self, poll_url: str) -> StatusReport:
        """Ask Paynow now (an empty POST to the poll URL)."""
        return self._report(self._ask(poll_url, ""))

    def read_status_post(self, body: str) -> StatusReport:
        """A status post as Paynow sent it to the result URL; PaynowUntrusted unless its hash
        verifies. Even then it is only a hint: the poll URL we keep has the last word."""
        message = wire.parse(body)
        if not wire.is_signed_by(message, self.integration_key):
            raise PaynowUntrusted("the status post's hash does not verify")
        return self._report(message)

    def is_paynow_url(self, url: str) -> bool:
        """Whether `url` is on Paynow's host (where a poll URL may point)."""
        ours, theirs = urlsplit(self.base_url), urlsplit(url)
        return (theirs.scheme, theirs.netloc.lower()) == (ours.scheme, ours.netloc.lower())

    @staticmethod
    def _report(message: wire.Message) -> StatusReport:
        values = wire.fields(message)
        for required in ("reference", "status"):
            if not values.get(required):
                raise PaynowUntrusted(f"Paynow's status message lacks {required}", required)
        return StatusReport(
            reference=values["reference"],
            paynow_reference=values.get("paynowreference", ""),
            amount=from_wire_amount(values.get("amount", "")),
            status=canonical_status(values["status"]),
            poll_url=values.get("pollurl", ""),
        )

    def _ask(self, url: str, body: str) -> wire.Message:
        """Paynow's verified reply; PaynowRefused for `status=Error`."""
        if not self.configured:
            raise PaynowUnreachable("Paynow is not configured (PAYNOW_INTEGRATION_ID/KEY)")
        reply = wire.parse(self._post(url, body))
        values = wire.fields(reply)
        if values.get("status", "").lower() == wire.ERROR.lower():
            raise PaynowRefused(values.get("error") or "Paynow refused the request")
        if not wire.is_signed_by(reply, self.integration_key):
            log.warning("Paynow's reply from %s does not verify (hash)", urlsplit(url).path)
            raise PaynowUntrusted("Paynow's reply does not verify (hash)")
        return reply
