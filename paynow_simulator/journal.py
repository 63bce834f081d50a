"""The simulator's memory across restarts: every transaction opened and every change of
status, one JSON line each, appended as it happens.

Paynow keeps its transactions when anything restarts; so does the simulator. At start the
ledger reads the journal back: transactions answer polls and the approval page again, and
a test-mode script still running when the process died plays its outcome when it was due
(at once if that time has passed). Status posts in flight when it died are not sent again:
the merchant's poller finds the status, as it would if Paynow's post were lost.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from paynow_simulator.initiation import Initiation, Outcome
from paynow_simulator.merchants import Merchant

log = logging.getLogger(__name__)

OPENED, MOVED = "opened", "moved"


@dataclass(frozen=True)
class Opened:
    """A transaction as it was opened, with its test-mode script if it plays one."""

    guid: str
    paynow_reference: str
    merchant: Merchant
    initiation: Initiation
    poll_url: str
    status: str
    at: datetime
    browser_url: str = ""
    authorization_code: str = ""
    authorization_expires: str = ""
    scripted: Outcome | None = None
    scripted_at: datetime | None = None  # when the script's outcome is due


@dataclass(frozen=True)
class Moved:
    paynow_reference: str
    status: str
    at: datetime


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def check_writable(self) -> None:
        """OSError now, at start, rather than at the first payment."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8"):
            pass

    def opened(self, entry: Opened) -> None:
        initiation = entry.initiation
        self._append(
            {
                "kind": OPENED,
                "guid": entry.guid,
                "paynow_reference": entry.paynow_reference,
                "integration_id": entry.merchant.integration_id,
                "initiation": {
                    **initiation.__dict__,
                    "amount": str(initiation.amount),
                },
                "poll_url": entry.poll_url,
                "status": entry.status,
                "at": entry.at.isoformat(),
                "browser_url": entry.browser_url,
                "authorization_code": entry.authorization_code,
                "authorization_expires": entry.authorization_expires,
                "scripted": None
                if entry.scripted is None
                else {
                    "status": entry.scripted.status,
                    "after_seconds": entry.scripted.after_seconds,
                },
                "scripted_at": entry.scripted_at.isoformat() if entry.scripted_at else None,
            }
        )

    def moved(self, entry: Moved) -> None:
        self._append(
            {
                "kind": MOVED,
                "paynow_reference": entry.paynow_reference,
                "status": entry.status,
                "at": entry.at.isoformat(),
            }
        )

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Written through to the kernel at once: a SIGKILL after this line loses nothing.
            with self.path.open("a", encoding="utf-8") as journal:
                journal.write(line)

    def read(self, merchants: dict[str, Merchant]) -> Iterator[Opened | Moved]:
        """What the journal holds, oldest first. A line cut short by a crash, or of a
        merchant no longer configured, is skipped with a log line."""
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as journal:
            for number, line in enumerate(journal, 1):
                try:
                    entry = _entry(json.loads(line), merchants)
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("%s line %d skipped: %s", self.path, number, exc)
                    continue
                if entry is not None:
                    yield entry


def _entry(record: dict[str, Any], merchants: dict[str, Merchant]) -> Opened | Moved | None:
    if record["kind"] == MOVED:
        return Moved(record["paynow_reference"], record["status"], _moment(record["at"]))
    merchant = merchants.get(record["integration_id"])
    if merchant is None:
        log.warning("transaction %s of unknown merchant %s skipped",
                    record["paynow_reference"], record["integration_id"])  # fmt: skip
        return None
    scripted = record["scripted"]
    return Opened(
        guid=record["guid"],
        paynow_reference=record["paynow_reference"],
        merchant=merchant,
        initiation=Initiation(
            **{**record["initiation"], "amount": Decimal(record["initiation"]["amount"])}
        ),
        poll_url=record["poll_url"],
        status=record["status"],
        at=_moment(record["at"]),
        browser_url=record["browser_url"],
        authorization_code=record["authorization_code"],
        authorization_expires=record["authorization_expires"],
        scripted=None
        if scripted is None
        else Outcome(scripted["status"], scripted["after_seconds"]),
        scripted_at=_moment(record["scripted_at"]) if record["scripted_at"] else None,
    )


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment
