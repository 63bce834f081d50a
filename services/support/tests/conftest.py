"""Support's domain tests: the run's database, and the other services' answers as plain
callables (their own tests cover them). Every test makes its own organizations, so tests
share the database without seeing each other's tickets."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from ops import database
from services.support import messages, response_targets, tickets
from services.support.models import SupportTicket, tables
from services.support.response_targets import ResponseTargets
from shared import context
from shared.authorization import MemberRole
from shared.errors import NotFound
from shared.ids import cuid
from shared.unit_of_work import UnitOfWork
from tests.harness import RunEnvironment

Acting = Callable[..., AbstractContextManager[context.CallContext]]
"""The root conftest's `as_user` and `as_system`."""

TARGETS = response_targets.parse("URGENT=1h,HIGH=4h,NORMAL=1bd,LOW=3bd")
STAFF_ID = cuid()


class Store:
    """`Transactions` on the run's database, as the service's `db` gives them."""

    def transaction(self) -> AbstractContextManager[UnitOfWork]:
        return database.unit_of_work("support")


@pytest.fixture
def store(test_environment: RunEnvironment) -> Store:
    return Store()


@pytest.fixture
def targets() -> ResponseTargets:
    return TARGETS


@dataclass
class Organization:
    """An organization, what billing and payments know of it, and its people."""

    id: str = field(default_factory=cuid)
    member_id: str = field(default_factory=cuid)
    invoice_ids: set[str] = field(default_factory=lambda: {cuid()})
    payment_ids: set[str] = field(default_factory=lambda: {cuid()})
    service_ids: set[str] = field(default_factory=lambda: {cuid()})
    asked: list[tuple[str, str]] = field(default_factory=list)

    def _lookup(self, name: str, known: set[str]) -> Callable[[str, str], dict[str, Any]]:
        def ask(organization_id: str, object_id: str) -> dict[str, Any]:
            self.asked.append((name, object_id))
            if organization_id != self.id or object_id not in known:
                raise NotFound(f"{name} not found", {name: ["not found"]})
            return {"id": object_id}

        return ask

    @property
    def owners(self) -> dict[str, Callable[[str, str], dict[str, Any]]]:
        return {
            "invoice_id": self._lookup("invoice_id", self.invoice_ids),
            "payment_id": self._lookup("payment_id", self.payment_ids),
            "service_id": self._lookup("service_id", self.service_ids),
        }


def staff_user(user_id: str) -> dict[str, Any]:
    """identity.staff_user: STAFF_ID is the one staff user."""
    if user_id != STAFF_ID:
        raise NotFound("staff user not found", {"user_id": ["not found"]})
    return {"id": user_id, "email": "agent@cvt.co.zw", "name": "Agent"}


@dataclass
class Desk:
    """Acting on tickets as a member of `org` or as staff."""

    store: Store
    as_user: Acting
    org: Organization = field(default_factory=Organization)

    def member(self, role: MemberRole = MemberRole.MEMBER) -> AbstractContextManager[Any]:
        return self.as_user(self.org.id, role, actor_id=self.org.member_id)

    def staff(self) -> AbstractContextManager[Any]:
        return self.as_user(is_staff=True, actor_id=STAFF_ID)

    def open(self, **data: Any) -> dict[str, Any]:
        """A member opens a ticket."""
        body = {"subject": "Terminal offline", "description": "It shows no signal."} | data
        with self.member():
            return tickets.open_ticket(self.store, self.org.id, body, TARGETS, self.org.owners)

    def staff_says(self, ticket_id: str, text: str, **data: Any) -> dict[str, Any]:
        with self.staff(), self.store.transaction() as uow:
            return messages.post_staff_message(uow, ticket_id, {"message": text} | data)

    def member_says(self, ticket_id: str, text: str) -> dict[str, Any]:
        with self.member(), self.store.transaction() as uow:
            return messages.reply(uow, self.org.id, ticket_id, {"message": text})

    def status(self, ticket_id: str, status: str) -> dict[str, Any]:
        with self.staff(), self.store.transaction() as uow:
            return tickets.change_ticket_status(uow, ticket_id, {"status": status})


@pytest.fixture
def desk(store: Store, as_user: Acting) -> Desk:
    return Desk(store, as_user)


def load_ticket(ticket_id: str) -> SupportTicket:
    with database.unit_of_work("support") as uow:
        ticket = uow.session.get(SupportTicket, ticket_id)
        assert ticket is not None
        return ticket


def events_about(ticket_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(event type, payload) of every event emitted about the ticket, oldest first."""
    return database.outbox_events("support", "ticket_id", ticket_id)


def event_types_about(ticket_id: str) -> list[str]:
    return [event_type for event_type, _ in events_about(ticket_id)]


def every_event_text() -> str:
    """Every event support ever put in its outbox, as text."""
    outbox = tables.outbox_message
    with database.unit_of_work("support") as uow:
        return json.dumps(list(uow.session.scalars(select(outbox.payload))))


def audit_actions(entity_id: str) -> list[str]:
    audit = tables.audit_log
    with database.unit_of_work("support") as uow:
        return list(
            uow.session.scalars(
                select(audit.action)
                .where(audit.entity_id == entity_id)
                .order_by(audit.timestamp, audit.id)
            )
        )
