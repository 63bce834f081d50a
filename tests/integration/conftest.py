"""The whole suite as real processes: the mail sink, the Paynow simulator, every service
and the gateway, on this run's own database and vhost, reached over real HTTP."""

from __future__ import annotations

import email
import mailbox
import os
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, pool, text

from ops.processes import METERED, Supervisor, free_port, free_ports
from ops.seed import seed
from shared import config, context
from shared.errors import ValidationFailed
from shared.event_catalogue import contracts_by_route
from shared.waiting import DeadlineExceeded, wait_until
from tests.harness import RunEnvironment, exported, queue_depths, run_sql

ALLOWED_ORIGIN = "https://app.cvt.test"
MAX_BODY_BYTES = 64 * 1024
PASSWORD = "correct horse battery staple"
STAFF_EMAIL = "staff@cvt.test"
# A reverse proxy in front of the gateway (TRUSTED_PROXIES): tests that play one connect
# from this address; no other test does (theirs are 127.0.0.1 or 127.1-250.x.y).
TRUSTED_PROXY = "127.254.0.1"


# A billing run covers every organization the tests made so far.
BILLING_RUN_SECONDS = 300
FINISHED_RUNS = ("COMPLETED", "FAILED")


def text_of(message: EmailMessage) -> str:
    """Every text part of an email (plain and HTML), for asserting what it says or hides."""
    return "\n".join(
        part.get_content() for part in message.walk() if part.get_content_maintype() == "text"
    )


@dataclass
class Person:
    email: str
    session: str = ""
    user_id: str = ""
    device: str = ""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.session}"}


@dataclass
class Suite:
    supervisor: Supervisor
    url: str
    env: RunEnvironment
    _seen_mail: set[str] = field(default_factory=set)

    def http(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 15)
        return requests.request(method, self.url + path, **kwargs)

    def run_billing(self, staff: Person, period: str) -> requests.Response:
        """A staff billing run, started (202, or the run under way for the period) and
        waited for: the last progress answer (200) once the run is finished, else the
        start's refusal as it came."""
        started = self.http(
            "POST", "/v1/admin/billing-runs", json={"period": period}, headers=staff.auth
        )
        if started.status_code != 202:
            return started
        location = started.headers["Location"]

        # In a tuple: a response is falsy when its status is an error.
        def finished() -> tuple[requests.Response] | None:
            progress = self.http("GET", location, headers=staff.auth)
            if progress.status_code != 200 or progress.json()["status"] in FINISHED_RUNS:
                return (progress,)
            return None

        [last] = wait_until(finished, BILLING_RUN_SECONDS, f"billing run {location} to finish")
        return last

    def rpc(self) -> ClusterRpcProxy:
        """RPC straight to the services, without the gateway, as the suite itself: the
        context is signed as the suite's processes sign theirs (this test run holds their
        key), or the services would refuse it."""
        system = context.CallContext(actor_type=context.SYSTEM)
        return ClusterRpcProxy(
            {"AMQP_URI": self.env.amqp_uri}, context_data=system.to_context_data()
        )

    def sql(self, statement: str, **params: object) -> list:
        return run_sql(self.env.database_url, statement, **params)

    def log_text(self, component: str) -> str:
        return self.supervisor.log_file(component).read_text(errors="replace")

    def mails_to(self, address: str) -> list[EmailMessage]:
        directory = self.supervisor.var_dir / "mail"
        if not directory.exists():
            return []
        return [
            email.message_from_bytes(m.as_bytes(), policy=default_policy)
            for m in mailbox.Maildir(directory, create=False)
            if address.lower() in (m["To"] or "").lower()
        ]

    def mail(self, address: str, subject_part: str, timeout: float = 30) -> EmailMessage:
        """A not-yet-read email to `address` whose subject has `subject_part`."""

        def unread() -> EmailMessage | None:
            for message in self.mails_to(address):
                if (
                    subject_part in message["Subject"]
                    and message["Message-ID"] not in self._seen_mail
                ):
                    self._seen_mail.add(message["Message-ID"])
                    return message
            return None

        return wait_until(unread, timeout, f"an email to {address} about {subject_part!r}")

    def link_token(self, address: str, subject_part: str, timeout: float = 30) -> str:
        """The token of the link in such an email (`?token=…`, or a pay link `/pay/…`)."""
        body = text_of(self.mail(address, subject_part, timeout))
        return re.search(r"(?:token=|/pay/)([A-Za-z0-9_\-]+)", body).group(1)

    def sign_in(self, address: str, password: str = PASSWORD) -> Person:
        response = self.http(
            "POST", "/v1/auth/sign-in", json={"email": address, "password": password}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        return Person(address, body["token"], body["user"]["id"], body["device_token"])

    def new_person(self, address: str | None = None) -> Person:
        """Signed up, verified through the emailed link, signed in."""
        address = address or f"p-{uuid.uuid4().hex[:10]}@example.co.zw"
        signed_up = self.http(
            "POST", "/v1/auth/sign-up", json={"email": address, "password": PASSWORD}
        )
        assert signed_up.status_code == 202, signed_up.text
        verified = self.http(
            "POST", "/v1/auth/verify-email", json={"token": self.link_token(address, "Confirm")}
        )
        assert verified.status_code == 200, verified.text
        return self.sign_in(address)

    def new_org(self, owner: Person, **fields: object) -> dict:
        body = {"name": f"Org {uuid.uuid4().hex[:8]}", "email": "ops@example.co.zw", **fields}
        response = self.http("POST", "/v1/organizations", json=body, headers=owner.auth)
        assert response.status_code == 201, response.text
        return response.json()


@contextmanager
def running_suite(
    environment: RunEnvironment, var_dir: Path, settings: Mapping[str, str] | None = None
) -> Iterator[Suite]:
    """The whole suite on `environment` (seeded, outboxes cleared of unit tests' events),
    its logs and mail under `var_dir`; `settings` override the test settings below. Stopped
    at the end, once every queue is empty and every event met its contract."""
    paynow_port = free_port()
    env = (
        dict(os.environ)
        | environment.as_env()
        | {
            "GATEWAY_ADDRESS": f"127.0.0.1:{free_port()}",
            # Each service and the gateway serve /metrics on a port of their own from here.
            "METRICS_PORT": str(free_ports(len(METERED))),
            "PAYNOW_SIMULATOR_ADDRESS": f"127.0.0.1:{paynow_port}",
            "PAYNOW_URL": f"http://127.0.0.1:{paynow_port}",
            "PAYNOW_INTEGRATION_ID": "20001",
            "PAYNOW_INTEGRATION_KEY": str(uuid.uuid4()),
            # Test-mode scripts in a twentieth of Paynow's time: 5 s -> 0.25 s, 30 s -> 1.5 s.
            "PAYNOW_SIMULATOR_DELAY_SCALE": "0.05",
            # Status posts (0.25 s after a test-mode payment) come well before a payment's
            # first poll, so tests can tell which path settled it; a lost one settles in ~2 s.
            "PAYNOW_POLL_INTERVAL_SECONDS": "2",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(free_port()),
            "CVT_VAR_DIR": str(var_dir),
            "CORS_ORIGINS": ALLOWED_ORIGIN,
            "MAX_BODY_BYTES": str(MAX_BODY_BYTES),
            "OUTBOX_INTERVAL_SECONDS": "0.2",
            # Failed messages park within seconds, so tests can watch the whole path.
            "RETRY_DELAYS_SECONDS": "0.2,0.5,1",
            "READY_TIMEOUT_SECONDS": "1.0",
            "LOG_LEVEL": "INFO",
            # Every test signs people up from 127.0.0.1.
            "EMAIL_REQUESTS_PER_ADDRESS": "100000",
            "TRUSTED_PROXIES": TRUSTED_PROXY,
        }
        | dict(settings or {})
    )
    os.environ.update(CVT_ADMIN_EMAIL=STAFF_EMAIL, CVT_ADMIN_PASSWORD=PASSWORD)
    with exported(environment):
        seed()
    forget_unit_test_events(environment)
    supervisor = Supervisor(var_dir, env=env)
    supervisor.start_all()
    try:
        supervisor.wait_ready(timeout=120)
        running = Suite(supervisor, supervisor.gateway_url, environment)
        yield running
        assert_nothing_left_in_queues(environment.amqp_uri)
        assert_every_event_meets_its_contract(running)
    finally:
        supervisor.stop_all()


@pytest.fixture(scope="session")
def suite(
    test_environment: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Suite]:
    with running_suite(test_environment, Path(tmp_path_factory.mktemp("suite"))) as running:
        yield running


def assert_nothing_left_in_queues(amqp_uri: str) -> None:
    """Nothing accepted may sit unhandled: once the tests are done, every message is
    handled or parked (retry queues hand theirs back within a second here). Replies are
    not work: those in the reply queue of a process that was killed had nobody left to
    read them (its caller got a 503), and RabbitMQ drops that queue once it is idle."""

    def waiting() -> dict[str, int]:
        return {
            name: count
            for name, count in queue_depths(amqp_uri).items()
            if count and not name.endswith(".dead-letters") and not name.startswith("rpc.reply-")
        }

    try:
        wait_until(lambda: not waiting(), 60, "every queue of the suite to be empty")
    except DeadlineExceeded as exc:
        raise AssertionError(f"messages left unhandled after the tests: {waiting()}") from exc


def assert_every_event_meets_its_contract(suite: Suite) -> None:
    """Every event the services wrote to their outboxes during the run reads back with its
    contract, as its handlers will read it."""
    routes = contracts_by_route()
    broken = []
    for service in config.SERVICES:
        rows = suite.sql(f"SELECT id, event_type, payload FROM {service}.outbox_messages")
        for event_id, event_type, payload in rows:
            contract = routes.get((service, event_type))
            if contract is None:
                broken.append(f"{service} {event_type} {event_id}: no contract")
                continue
            try:
                contract.from_payload(payload)
            except ValidationFailed as refused:
                broken.append(f"{service} {event_type} {event_id}: {refused.fields}")
    assert broken == [], "events that do not meet their contracts"


def forget_unit_test_events(environment: RunEnvironment) -> None:
    """Domain tests that ran earlier on this database left events for made-up organizations
    in the outboxes; the suite must not publish them (their emails would fail and park)."""
    engine = create_engine(environment.database_url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            for service in config.SERVICES:
                conn.execute(
                    text(
                        f"UPDATE {service}.outbox_messages SET published_at = now() "
                        "WHERE published_at IS NULL"
                    )
                )
    finally:
        engine.dispose()


@pytest.fixture
def staff(suite: Suite) -> Person:
    """A fresh staff session per test: some tests end all of a person's sessions."""
    return suite.sign_in(STAFF_EMAIL)
