"""Transactions, what status may follow which, and the timers of test-mode scripts.

Every change of status is announced (the status post to the merchant's result URL);
the status a transaction starts in is not, as Paynow posts only changes.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from paynow_simulator import protocol
from paynow_simulator.initiation import Initiation, Outcome
from paynow_simulator.journal import Journal, Moved, Opened
from paynow_simulator.merchants import Merchant
from shared.clock import utcnow

log = logging.getLogger(__name__)

# Paynow's statuses and which may follow which. Web checkouts start Created (the customer
# has not paid yet), express checkouts Sent (the customer was sent to their wallet).
NEXT: dict[str, frozenset[str]] = {
    protocol.CREATED: frozenset({protocol.PAID, protocol.CANCELLED}),
    protocol.SENT: frozenset({protocol.PAID, protocol.CANCELLED}),
    protocol.PAID: frozenset({protocol.DISPUTED, protocol.REFUNDED}),
    protocol.DISPUTED: frozenset({protocol.REFUNDED}),
}

INSTRUCTIONS = {
    "ecocash": "Dial *151*2*4# and enter your EcoCash PIN to authorise the payment.",
    "onemoney": "Dial *111# and enter your OneMoney PIN to authorise the payment.",
    "innbucks": "Open the InnBucks app and enter the authorization code to pay.",
}
# How long an InnBucks code lasts, and how Paynow writes its expiry (Harare time, UTC+2).
INNBUCKS_CODE_LIFETIME = timedelta(minutes=15)
HARARE = timezone(timedelta(hours=2))

Schedule = Callable[[float, Callable[[], None]], None]
Announce = Callable[["Transaction"], None]


class NotAllowed(Exception):
    pass


@dataclass
class Transaction:
    guid: str
    paynow_reference: str
    merchant: Merchant
    initiation: Initiation
    poll_url: str
    status: str
    browser_url: str = ""  # web checkout only
    authorization_code: str = ""  # InnBucks only
    authorization_expires: str = ""
    history: list[tuple[str, datetime]] = field(default_factory=list)

    def status_message(self) -> protocol.Message:
        return protocol.status_message(
            self.initiation.reference,
            self.paynow_reference,
            f"{self.initiation.amount:.2f}",
            self.status,
            self.poll_url,
        )

    def initiation_reply(self) -> protocol.Message:
        if not self.initiation.method:
            return protocol.web_reply(self.browser_url, self.poll_url, self.paynow_reference)
        extras = []
        if self.initiation.method in INSTRUCTIONS:
            extras.append(("instructions", INSTRUCTIONS[self.initiation.method]))
        if self.authorization_code:
            extras += [
                ("authorizationcode", self.authorization_code),
                ("authorizationexpires", self.authorization_expires),
            ]
        return protocol.express_reply(self.poll_url, self.paynow_reference, extras)


def _innbucks_expiry(now: datetime) -> str:
    """d-MMM-yyyy HH:mm, as Paynow writes it."""
    moment = (now + INNBUCKS_CODE_LIFETIME).astimezone(HARARE)
    return f"{moment.day}-{moment:%b-%Y %H:%M}"


FIRST_REFERENCE = 10001


class Ledger:
    """Every transaction, in memory and (with a `journal`) on disk, so that a restart
    forgets none of them, as Paynow would not."""

    def __init__(
        self,
        schedule: Schedule,
        announce: Announce,
        delay_scale: float,
        journal: Journal | None = None,
    ) -> None:
        self._schedule = schedule
        self._announce = announce
        self._delay_scale = delay_scale
        self._journal = journal
        self._lock = threading.Lock()
        self._by_guid: dict[str, Transaction] = {}
        self._by_reference: dict[str, Transaction] = {}
        self._numbers = itertools.count(FIRST_REFERENCE)

    def restore(self, entries: Iterable[Opened | Moved]) -> int:
        """Rebuild the transactions a journal recorded (before any new one is opened);
        scripts that had not played yet play when they were due. How many came back."""
        # Scripts by transaction: the status it opened in, the one to play, when it is due.
        scripts: dict[str, tuple[str, str, datetime]] = {}
        with self._lock:
            for entry in entries:
                if isinstance(entry, Opened):
                    self._add(
                        Transaction(
                            guid=entry.guid,
                            paynow_reference=entry.paynow_reference,
                            merchant=entry.merchant,
                            initiation=entry.initiation,
                            poll_url=entry.poll_url,
                            status=entry.status,
                            browser_url=entry.browser_url,
                            authorization_code=entry.authorization_code,
                            authorization_expires=entry.authorization_expires,
                            history=[(entry.status, entry.at)],
                        )
                    )
                    if entry.scripted is not None and entry.scripted_at is not None:
                        scripts[entry.paynow_reference] = (
                            entry.status, entry.scripted.status, entry.scripted_at,
                        )  # fmt: skip
                elif (transaction := self._by_reference.get(entry.paynow_reference)) is not None:
                    transaction.status = entry.status
                    transaction.history.append((entry.status, entry.at))
            last = max((int(ref) for ref in self._by_reference if ref.isdigit()), default=0)
            self._numbers = itertools.count(max(FIRST_REFERENCE, last + 1))
        now = utcnow()
        for reference, (opened_as, to_play, due_at) in scripts.items():
            if self._by_reference[reference].status == opened_as:
                self._play_later(reference, to_play, max(0.0, (due_at - now).total_seconds()))
        return len(self._by_reference)

    def open_web(
        self, merchant: Merchant, initiation: Initiation, base_url: str, browser_base_url: str
    ) -> Transaction:
        guid = str(uuid.uuid4())
        return self._open(
            merchant,
            initiation,
            base_url,
            protocol.CREATED,
            guid,
            browser_url=f"{browser_base_url}{protocol.CONFIRM_PATH}{guid}",
        )

    def open_express(
        self, merchant: Merchant, initiation: Initiation, outcome: Outcome, base_url: str
    ) -> Transaction:
        extras: dict[str, str] = {}
        if initiation.method == "innbucks":
            extras = {
                "authorization_code": f"{secrets.randbelow(10**9):09d}",
                "authorization_expires": _innbucks_expiry(utcnow()),
            }
        delay = outcome.after_seconds * self._delay_scale
        transaction = self._open(
            merchant,
            initiation,
            base_url,
            protocol.SENT,
            str(uuid.uuid4()),
            scripted=outcome,
            scripted_at=utcnow() + timedelta(seconds=delay),
            **extras,
        )
        self._play_later(transaction.paynow_reference, outcome.status, delay)
        return transaction

    def _play_later(self, paynow_reference: str, status: str, delay: float) -> None:
        def play() -> None:
            try:
                self.move(paynow_reference, status)
            except NotAllowed as exc:
                log.info("test-mode script not played: %s", exc)

        self._schedule(delay, play)

    def _open(
        self,
        merchant: Merchant,
        initiation: Initiation,
        base_url: str,
        status: str,
        guid: str,
        scripted: Outcome | None = None,
        scripted_at: datetime | None = None,
        **extras: str,
    ) -> Transaction:
        with self._lock:
            opened_at = utcnow()
            transaction = Transaction(
                guid=guid,
                paynow_reference=str(next(self._numbers)),
                merchant=merchant,
                initiation=initiation,
                poll_url=f"{base_url}{protocol.POLL_PATH}?guid={guid}",
                status=status,
                history=[(status, opened_at)],
                **extras,
            )
            if self._journal is not None:
                self._journal.opened(
                    Opened(
                        guid=guid,
                        paynow_reference=transaction.paynow_reference,
                        merchant=merchant,
                        initiation=initiation,
                        poll_url=transaction.poll_url,
                        status=status,
                        at=opened_at,
                        scripted=scripted,
                        scripted_at=scripted_at,
                        **extras,
                    )
                )
            self._add(transaction)
        log.info(
            "%s %s for %s: %s %s (%s)",
            transaction.paynow_reference,
            status,
            merchant.integration_id,
            initiation.reference,
            initiation.amount,
            initiation.method or "web checkout",
        )
        return transaction

    def move(self, paynow_reference: str, status: str) -> Transaction:
        """To `status` and announced; NotAllowed if it may not follow the current one."""
        with self._lock:
            transaction = self.find(paynow_reference)
            if status not in NEXT.get(transaction.status, frozenset()):
                raise NotAllowed(
                    f"transaction {paynow_reference} is {transaction.status}; "
                    f"it cannot become {status}"
                )
            moved_at = utcnow()
            if self._journal is not None:
                self._journal.moved(Moved(paynow_reference, status, moved_at))
            transaction.status = status
            transaction.history.append((status, moved_at))
            # Under the lock, so status posts leave in the order the changes happened.
            self._announce(transaction)
        log.info("%s is now %s", paynow_reference, status)
        return transaction

    def _add(self, transaction: Transaction) -> None:
        self._by_guid[transaction.guid] = transaction
        self._by_reference[transaction.paynow_reference] = transaction

    def find(self, paynow_reference: str) -> Transaction:
        try:
            return self._by_reference[paynow_reference]
        except KeyError:
            raise LookupError(f"no transaction {paynow_reference}") from None

    def by_guid(self, guid: str) -> Transaction | None:
        return self._by_guid.get(guid)

    def all(self) -> list[Transaction]:
        with self._lock:
            return list(self._by_reference.values())


def timer_schedule(delay: float, action: Callable[[], None]) -> None:
    """Run `action` once after `delay` seconds on a thread of its own."""
    timer = threading.Timer(delay, action)
    timer.daemon = True
    timer.start()
