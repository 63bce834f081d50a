"""Traffic for the fault tests: a terminal ingesting usage without pause, and the other
kinds of work (a Paynow payment, a billing run, a support conversation) started on demand,
each in a green thread of its own. Every request is retried the way a careful client
retries (same body, same idempotency keys) until it is answered, and every answer is
tallied, so a test can say how the suite answered while a process was down."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from shared import config
from shared.waiting import wait_until
from tests.integration.conftest import Person, Suite, assert_nothing_left_in_queues
from tests.integration.payments_helpers import PAID_SOON, Billed, pay_by_token
from tests.integration.support_helpers import org_path

# How long one piece of work may keep retrying: a process restarts within seconds, and
# the gateway answers a request whose service is down with 503 within its RPC deadline.
WORK_SECONDS = 120.0
# A careful client's pause before it tries again.
RETRY_PAUSE_SECONDS = 0.3
# Usage events per request, and the pause between requests: a steady, modest stream.
BATCH_SIZE = 50
BATCH_PAUSE_SECONDS = 0.2
# From the end of a fault to every queue drained and every email sent.
SETTLE_SECONDS = 120.0


def no_answer(exc: requests.RequestException) -> str:
    return f"no answer ({type(exc).__name__})"


@dataclass
class Tally:
    """Answers per kind of request ("ingest 202", "pay 503", "ingest no answer (...)"),
    with the slowest answer seen for each."""

    answers: Counter[str] = field(default_factory=Counter)
    slowest: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, what: str, answer: str, seconds: float) -> None:
        key = f"{what} {answer}"
        with self.lock:
            self.answers[key] += 1
            self.slowest[key] = max(self.slowest.get(key, 0.0), seconds)

    def of(self, what: str) -> dict[str, int]:
        return {k: v for k, v in sorted(self.answers.items()) if k.startswith(f"{what} ")}

    def server_errors(self) -> dict[str, int]:
        """Answers no client should see: a 5xx other than 503 (which says when to retry)."""
        return {
            k: v
            for k, v in self.answers.items()
            if k.split()[1].isdigit() and int(k.split()[1]) >= 500 and k.split()[1] != "503"
        }


def retried(
    tally: Tally,
    what: str,
    send: Callable[[], requests.Response],
    done: Callable[[requests.Response], bool],
    seconds: float = WORK_SECONDS,
) -> requests.Response:
    """`send()` until `done(answer)`; each answer (or its absence) tallied under `what`.
    A 503 must say when to retry."""
    deadline = time.monotonic() + seconds
    while True:
        started = time.monotonic()
        try:
            response = send()
        except requests.RequestException as exc:
            tally.note(what, no_answer(exc), time.monotonic() - started)
        else:
            tally.note(what, str(response.status_code), time.monotonic() - started)
            if response.status_code == 503:
                assert response.headers.get("Retry-After"), (what, response.text)
            if done(response):
                return response
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not answered as hoped within {seconds:g} s")
        time.sleep(RETRY_PAUSE_SECONDS)


@dataclass
class Terminal:
    """A terminal sending batches of usage events with its API key, each batch resent
    (same idempotency keys) until it is accepted."""

    suite: Suite
    api_key: str
    tally: Tally
    prefix: str = field(default_factory=lambda: f"rel-{uuid.uuid4().hex[:8]}")
    accepted: int = 0
    batches: int = 0
    probes: int = 0
    failure: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def batch(self, number: int) -> dict:
        return {
            "events": [
                {
                    "event_type": "pos.transaction",
                    "quantity": 1,
                    "idempotency_key": f"{self.prefix}-{number}-{index}",
                }
                for index in range(BATCH_SIZE)
            ]
        }

    def send(self) -> None:
        body = self.batch(self.batches)
        answer = retried(
            self.tally,
            "ingest",
            lambda: self.suite.http(
                "POST", "/v1/usage-events", json=body, headers={"X-API-Key": self.api_key}
            ),
            lambda response: response.status_code == 202,
        )
        assert answer.json()["accepted"] == BATCH_SIZE, answer.text
        self.accepted += BATCH_SIZE
        self.batches += 1

    def send_once(self) -> requests.Response:
        """One batch of new events, sent once whatever the answer (a probe); counted if
        accepted."""
        self.probes += 1
        body = self.batch(-self.probes)
        response = self.suite.http(
            "POST", "/v1/usage-events", json=body, headers={"X-API-Key": self.api_key}
        )
        if response.status_code == 202:
            self.accepted += response.json()["accepted"]
        return response

    def start(self) -> None:
        def run() -> None:
            try:
                while not self._stop.is_set():
                    self.send()
                    self._stop.wait(BATCH_PAUSE_SECONDS)
            except BaseException as exc:
                self.failure = exc

        self._thread = threading.Thread(target=run, name="terminal", daemon=True)
        self._thread.start()

    def wait_for_batches(self, more: int, timeout: float = WORK_SECONDS) -> None:
        """Until `more` batches beyond those accepted now are accepted."""
        target = self.batches + more

        def sent() -> bool:
            if self.failure is not None:
                raise self.failure
            return self.batches >= target

        wait_until(sent, timeout, f"{more} more accepted batch(es)")

    def stop(self) -> None:
        """After the batch in flight is accepted."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(WORK_SECONDS)
            assert not self._thread.is_alive(), "the terminal's last batch was never accepted"
        if self.failure is not None:
            raise self.failure

    def counted(self) -> tuple[int, int]:
        """(events stored, events in the hourly rollups) for this terminal's keys."""
        [(stored,)] = self.suite.sql(
            "SELECT count(*) FROM metering.usage_events WHERE idempotency_key LIKE :p",
            p=f"{self.prefix}-%",
        )
        [(rolled,)] = self.suite.sql(
            "SELECT coalesce(sum(r.events), 0) FROM metering.usage_rollups r "
            "WHERE r.event_type = 'pos.transaction' AND r.organization_id = ("
            "  SELECT organization_id FROM metering.usage_events "
            "  WHERE idempotency_key LIKE :p LIMIT 1)",
            p=f"{self.prefix}-%",
        )
        return stored, int(rolled)


@dataclass
class Work:
    """Pieces of work, each in its own thread; `join` raises the first failure."""

    threads: list[threading.Thread] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)

    def start(self, name: str, job: Callable[[], object]) -> None:
        def run() -> None:
            try:
                job()
            except BaseException as exc:
                self.failures.append(exc)

        thread = threading.Thread(target=run, name=name, daemon=True)
        self.threads.append(thread)
        thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(WORK_SECONDS + 30)
            assert not thread.is_alive(), f"{thread.name} never finished"
        self.threads.clear()
        if self.failures:
            raise self.failures[0]


def pay(suite: Suite, tally: Tally, billed: Billed) -> None:
    """Start a Paynow express payment of the whole invoice (paid after 0.25 s here). A 409
    says an earlier attempt, whose answer was lost, already got it paid."""
    retried(
        tally,
        "pay",
        lambda: pay_by_token(suite, billed.token, method="ecocash", phone=PAID_SOON),
        lambda response: response.status_code in (200, 201, 409),
    )


def run_billing(suite: Suite, tally: Tally, staff: Person, period: str) -> None:
    """Start a billing run (or find the one under way) and wait until it completes."""
    retried(
        tally,
        "billing run",
        lambda: suite.run_billing(staff, period),
        lambda response: response.status_code == 200 and response.json()["status"] == "COMPLETED",
    )


def converse(suite: Suite, tally: Tally, owner: Person, staff: Person, org_id: str) -> None:
    """A client opens a ticket and staff answer it publicly (which emails the client)."""
    opened = retried(
        tally,
        "support",
        lambda: suite.http(
            "POST",
            org_path(org_id),
            json={"subject": "Till offline", "description": "It restarts."},
            headers=owner.auth,
        ),
        lambda response: response.status_code == 201,
    )
    ticket_id = opened.json()["id"]
    retried(
        tally,
        "support",
        lambda: suite.http(
            "POST",
            f"/v1/admin/tickets/{ticket_id}/messages",
            json={"message": "We are on it."},
            headers=staff.auth,
        ),
        lambda response: response.status_code == 201,
    )


def wait_until_quiet(suite: Suite) -> None:
    """Every queue empty, every outbox published, no email in the middle of sending."""
    assert_nothing_left_in_queues(suite.env.amqp_uri)

    def settled() -> bool:
        unpublished = sum(
            suite.sql(f"SELECT count(*) FROM {s}.outbox_messages WHERE published_at IS NULL")[0][0]
            for s in config.SERVICES
        )
        [(queued,)] = suite.sql(
            "SELECT count(*) FROM notifications.email_logs WHERE status = 'QUEUED'"
        )
        return unpublished == 0 and queued == 0

    wait_until(settled, SETTLE_SECONDS, "every outbox published and every email sent")
    assert_nothing_left_in_queues(suite.env.amqp_uri)
