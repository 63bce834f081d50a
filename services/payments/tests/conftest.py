"""Payments' domain tests: the run's database, the Paynow simulator served in this process
over real HTTP (the payments client speaks to it exactly as to Paynow), a result URL that
keeps what the simulator posts, and billing's answers as plain dicts (billing's own tests
cover billing).

The database is shared by the whole run: every test makes its own invoice ids, and the
poller's tests only look at their own payments.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from ops import database
from paynow_simulator.app import Simulator, build_app
from paynow_simulator.merchants import Merchant
from services.payments.models import Payment, PaymentMethod, PaymentStatus, tables
from services.payments.paynow import PaynowClient
from shared import config, context
from shared.errors import NotFound
from shared.ids import cuid
from shared.unit_of_work import UnitOfWork
from shared.waiting import wait_until
from tests.harness import RunEnvironment

Acting = Callable[..., AbstractContextManager[context.CallContext]]
"""The root conftest's `as_user` and `as_system`."""

# The simulator's 5 s test script takes 0.1 s, its 30 s ones 0.6 s.
DELAY_SCALE = 0.02
MERCHANT = Merchant("40001", str(uuid.uuid4()))


class Store:
    """`Transactions` on the run's database, as the service's `db` gives them."""

    def transaction(self) -> AbstractContextManager[UnitOfWork]:
        return database.unit_of_work("payments")


@pytest.fixture
def store(test_environment: RunEnvironment) -> Store:
    return Store()


@dataclass
class RunningSimulator:
    url: str
    app: Simulator

    def transaction(self, reference: str) -> Any:
        [found] = [t for t in self.app.ledger.all() if t.initiation.reference == reference]
        return found

    def wait_for_status(self, reference: str, status: str) -> None:
        wait_until(
            lambda: self.transaction(reference).status == status,
            10,
            f"the simulator's {reference} to be {status}",
            interval=0.02,
        )


@pytest.fixture(scope="session")
def simulator_server() -> Iterator[RunningSimulator]:
    app = build_app({MERCHANT.integration_id: MERCHANT}, DELAY_SCALE)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield RunningSimulator(f"http://127.0.0.1:{server.server_port}", app)
    finally:
        server.shutdown()


@pytest.fixture
def simulator(simulator_server: RunningSimulator) -> Iterator[RunningSimulator]:
    """The simulator, its fault switches off again after the test."""
    yield simulator_server
    simulator_server.app.switches.reset()


@pytest.fixture
def client(simulator: RunningSimulator) -> PaynowClient:
    return PaynowClient(simulator.url, MERCHANT.integration_id, MERCHANT.integration_key)


@dataclass
class ResultUrl:
    """The gateway's /webhooks/paynow as Paynow reaches it: keeps every post's body."""

    base_url: str
    bodies: list[str] = field(default_factory=list)

    def posts_about(self, reference: str) -> list[str]:
        return [body for body in self.bodies if f"reference={reference}&" in body]

    def wait_for(self, reference: str, count: int = 1) -> list[str]:
        def enough() -> list[str] | None:
            found = self.posts_about(reference)
            return found if len(found) >= count else None

        return wait_until(enough, 10, f"{count} status post(s) about {reference}", interval=0.02)


@pytest.fixture(scope="session")
def result_server() -> Iterator[ResultUrl]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    receiver = ResultUrl(f"http://127.0.0.1:{server.server_port}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver.bodies.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server.RequestHandlerClass = Handler
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def result_url(result_server: ResultUrl, monkeypatch: pytest.MonkeyPatch) -> ResultUrl:
    """PUBLIC_URL is the receiver: Paynow's result URL is <PUBLIC_URL>/webhooks/paynow."""
    monkeypatch.setenv(config.PUBLIC_URL.name, result_server.base_url)
    return result_server


# --- billing's answers ------------------------------------------------------------------


@dataclass
class Invoice:
    """An invoice as billing describes it (get_invoice, invoice_for_payment_link)."""

    organization_id: str = field(default_factory=cuid)
    billing_account_id: str = field(default_factory=cuid)
    id: str = field(default_factory=cuid)
    amount_due: int = 10_000
    status: str = "ISSUED"
    state: str = "payable"
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def number(self) -> str:
        return f"INV-2026-{self.id[-6:]}"

    def detail(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "billing_account_id": self.billing_account_id,
            "invoice_number": self.number,
            "period_start": "2026-10-01T00:00:00+00:00",
            "period_end": "2026-11-01T00:00:00+00:00",
            "subtotal": 10_000,
            "tax": 0,
            "total": 10_000,
            "amount_paid": 10_000 - self.amount_due,
            "amount_due": self.amount_due,
            "status": self.status,
            "issued_at": "2026-11-01T00:00:00+00:00",
            "due_at": "2026-11-15T00:00:00+00:00",
            "paid_at": None,
            "finalized_at": "2026-11-01T00:00:00+00:00",
            "line_items": [
                {
                    "id": cuid(),
                    "description": "POS terminal lease",
                    "quantity": 1,
                    "unit_price": 10_000,
                    "total": 10_000,
                    "service_id": cuid(),
                }
            ],
            "payment_token": self.token,
            "payment_token_expires_at": "2026-12-01T00:00:00+00:00",
        }

    def invoice_of(self, organization_id: str, invoice_id: str) -> dict[str, Any]:
        """billing.get_invoice"""
        if (organization_id, invoice_id) != (self.organization_id, self.id):
            raise NotFound("invoice not found", {"invoice_id": ["not found"]})
        return self.detail()

    def link_of(self, token: str) -> dict[str, Any]:
        """billing.invoice_for_payment_link"""
        if token != self.token:
            raise NotFound("payment link not found", {"token": ["not found"]})
        detail = self.detail()
        del detail["payment_token"], detail["payment_token_expires_at"]
        return {
            "organization_id": self.organization_id,
            "billing_account_id": self.billing_account_id,
            "state": self.state,
            "invoice": detail,
        }

    def account_of(self, organization_id: str) -> dict[str, Any]:
        """billing.get_billing_account"""
        if organization_id != self.organization_id:
            raise NotFound("organization not found", {"organization_id": ["not found"]})
        return {"id": self.billing_account_id, "organization_id": organization_id}


# --- reading and arranging payments -----------------------------------------------------


def load_payment(payment_id: str) -> Payment:
    with database.unit_of_work("payments") as uow:
        payment = uow.session.get(Payment, payment_id)
        assert payment is not None
        return payment


def events_about(payment_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(event type, payload) of every event emitted about the payment, oldest first."""
    return database.outbox_events("payments", "payment_id", payment_id)


def event_types_about(payment_id: str) -> list[str]:
    return [event_type for event_type, _ in events_about(payment_id)]


def audit_actions(entity_id: str) -> list[str]:
    audit = tables.audit_log
    with database.unit_of_work("payments") as uow:
        return list(
            uow.session.scalars(
                select(audit.action)
                .where(audit.entity_id == entity_id)
                .order_by(audit.timestamp, audit.id)
            )
        )


def add_payment(**values: Any) -> Payment:
    """A payment row as checkout leaves one (PENDING Paynow EcoCash by default)."""
    defaults: dict[str, Any] = {
        "organization_id": cuid(),
        "billing_account_id": cuid(),
        "invoice_id": cuid(),
        "invoice_number": "INV-2026-000001",
        "amount": 2_500,
        "method": PaymentMethod.PAYNOW_ECOCASH,
        "status": PaymentStatus.PENDING,
        "phone": "0771111111",
    }
    with database.unit_of_work("payments") as uow:
        payment = Payment(**(defaults | values))
        uow.session.add(payment)
    return payment


def hours_ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)
