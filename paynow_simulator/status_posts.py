"""Status posts to the merchant's result URL: a signed form post for every change of
status, sent again after an HTTP error up to ten times in all (as Paynow does), and bent
by the fault switches."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import requests

from paynow_simulator import faults, protocol
from paynow_simulator.faults import FaultSwitches
from paynow_simulator.transactions import Transaction

log = logging.getLogger(__name__)

ATTEMPTS = 10
RETRY_PAUSE_SECONDS = 10.0  # before each new attempt; scaled like the test-mode delays
TIMEOUT_SECONDS = 10.0

# (url, url-encoded body) -> the HTTP status of the answer; requests' errors when none.
Send = Callable[[str, str], int]
Run = Callable[..., object]


@dataclass
class StatusPost:
    """What became of one status change's post, for tests to read."""

    status: str
    hash_valid: bool
    dropped: bool
    copies: int
    delivered: int = 0
    gave_up: int = 0
    answers: list[str] = field(default_factory=list)  # HTTP status or error, per attempt

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def send_form(url: str, body: str) -> int:
    response = requests.post(
        url,
        data=body.encode("ascii"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=TIMEOUT_SECONDS,
        allow_redirects=False,
    )
    return response.status_code


def on_a_thread(action: Callable[..., None], *args: object) -> None:
    """A post leaves on a thread of its own, so a slow merchant holds up no request; a
    daemon, so stopping the simulator does not wait for retries to run out."""
    threading.Thread(target=action, args=args, daemon=True).start()


class StatusPoster:
    def __init__(
        self,
        switches: FaultSwitches,
        retry_pause: float,
        send: Send = send_form,
        run: Run | None = None,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        self._switches = switches
        self._retry_pause = retry_pause
        self._send = send
        self._run = run or on_a_thread
        self._pause = pause
        self.records: dict[str, list[StatusPost]] = {}

    def announce(self, transaction: Transaction) -> None:
        switches = self._switches.current
        copies = 0 if switches.drop_status_posts else 2 if switches.duplicate_status_posts else 1
        record = StatusPost(
            status=transaction.status,
            hash_valid=not switches.bad_hash,
            dropped=switches.drop_status_posts,
            copies=copies,
        )
        self.records.setdefault(transaction.paynow_reference, []).append(record)
        if record.dropped:
            log.info("%s %s: status post dropped", transaction.paynow_reference, record.status)
            return
        message = faults.sign(
            transaction.status_message(),
            transaction.merchant.integration_key,
            spoiled=switches.bad_hash,
        )
        for _ in range(copies):
            self._run(
                self._deliver, record, transaction.initiation.resulturl, protocol.encode(message)
            )

    def _deliver(self, record: StatusPost, url: str, body: str) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                code: int | None = self._send(url, body)
                record.answers.append(str(code))
            except requests.RequestException as exc:
                code = None
                record.answers.append(type(exc).__name__)
            if code is not None and code < 400:
                record.delivered += 1
                return
            if attempt < ATTEMPTS:
                self._pause(self._retry_pause)
        record.gave_up += 1
        log.warning("status post %s to %s: no success in %d attempts", record.status, url, ATTEMPTS)
