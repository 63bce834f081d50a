"""A change, its audit row and its event are committed together or not at all; committed
events reach the broker, once RabbitMQ has confirmed them."""

from __future__ import annotations

import pytest
from kombu import Connection, Consumer, Queue
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import sessionmaker

from services.identity.events import OrganizationCreated, OrganizationDeleted
from services.identity.models import Organization, tables
from shared import context
from shared.errors import ValidationFailed
from shared.ids import cuid
from shared.outbox import OutboxRelay
from shared.unit_of_work import UnitOfWork
from tests.harness import RunEnvironment


@pytest.fixture
def session_factory(test_environment: RunEnvironment):
    engine = create_engine(test_environment.database_url)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def counts(session_factory, org_id: str) -> tuple[int, int, int]:
    with session_factory() as s:
        return (
            s.scalar(select(func.count()).where(Organization.id == org_id)),
            s.scalar(select(func.count()).where(tables.audit_log.entity_id == org_id)),
            s.scalar(
                select(func.count()).where(
                    tables.outbox_message.payload["organization_id"].as_string() == org_id
                )
            ),
        )


def deliver_all(conn: Connection) -> None:
    """Hand every message already in the queue to the consumer's callback."""
    while True:
        try:
            conn.drain_events(timeout=1)
        except TimeoutError:
            return


def make_org(uow: UnitOfWork) -> str:
    org = Organization(name="UoW", slug=f"uow-{id(uow)}", email="u@x.co")
    uow.session.add(org)
    uow.session.flush()
    uow.audit("organization.created", "Organization", org.id, {"why": "test"})
    uow.emit(
        OrganizationCreated(
            organization_id=org.id,
            name=org.name,
            slug=org.slug,
            email=org.email,
            owner_user_id=cuid(),
        )
    )
    return org.id


def test_leaving_the_block_commits_change_audit_and_event(session_factory) -> None:
    context.bind(context.CallContext(request_id="req-uow", actor_id="u1", actor_type="user"))
    try:
        with UnitOfWork(session_factory, tables) as uow:
            org_id = make_org(uow)
    finally:
        context.bind(context.CallContext())
    assert counts(session_factory, org_id) == (1, 1, 1)
    with session_factory() as s:
        audit = s.scalars(
            select(tables.audit_log).where(tables.audit_log.entity_id == org_id)
        ).one()
        event = s.scalars(
            select(tables.outbox_message).where(
                tables.outbox_message.payload["organization_id"].as_string() == org_id
            )
        ).one()
    assert (audit.actor_id, audit.actor_type, audit.request_id) == ("u1", "user", "req-uow")
    assert audit.metadata_ == {"why": "test"}
    assert event.headers["nameko.request_id"] == "req-uow"
    assert event.payload["event_id"] == event.id
    assert event.published_at is None


def test_an_error_in_the_block_leaves_nothing_behind(session_factory) -> None:
    created: list[str] = []
    with pytest.raises(RuntimeError), UnitOfWork(session_factory, tables) as uow:
        created.append(make_org(uow))
        raise RuntimeError("crash after the writes, before commit")
    assert counts(session_factory, created[0]) == (0, 0, 0)


def test_after_commit_hook_gets_the_emitted_event_ids(session_factory) -> None:
    published: list[list[str]] = []
    with UnitOfWork(session_factory, tables, after_commit=published.append) as uow:
        make_org(uow)
    assert len(published) == 1 and len(published[0]) == 1


def test_a_failing_after_commit_hook_does_not_undo_the_commit(session_factory) -> None:
    def broker_down(_: list[str]) -> None:
        raise ConnectionError("broker down")

    with UnitOfWork(session_factory, tables, after_commit=broker_down) as uow:
        org_id = make_org(uow)
    assert counts(session_factory, org_id) == (1, 1, 1)


def add_org(uow: UnitOfWork, **fields: object) -> str:
    org = Organization(**{"name": "Data", "slug": f"data-{cuid()}", "email": "d@x.co", **fields})
    uow.session.add(org)
    return org.slug


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"name": "a\x00b"}, "NUL"),
        ({"address": "\ud800"}, "surrogate"),
        ({"id": "c" + "0" * 40}, "value too long"),
    ],
)
def test_data_the_database_refuses_at_commit_is_a_validation_failure(
    session_factory, fields: dict, reason: str
) -> None:
    published: list[list[str]] = []
    unit = UnitOfWork(session_factory, tables, after_commit=published.append)
    with pytest.raises(ValidationFailed) as caught, unit as uow:
        slug = add_org(uow, **fields)
        uow.emit(OrganizationDeleted(organization_id=cuid()))
    assert caught.value.status == 422
    assert reason in caught.value.fields["_schema"][0]
    assert published == []
    with session_factory() as s:
        assert s.scalar(select(func.count()).where(Organization.slug == slug)) == 0


def test_data_the_database_refuses_inside_the_block_is_a_validation_failure(
    session_factory,
) -> None:
    with pytest.raises(ValidationFailed) as caught, UnitOfWork(session_factory, tables) as uow:
        slug = add_org(uow)
        uow.session.flush()
        uow.session.execute(text("SELECT CAST(:n AS integer)"), {"n": 2**40})
    assert "out of range" in caught.value.fields["_schema"][0]
    with session_factory() as s:
        assert s.scalar(select(func.count()).where(Organization.slug == slug)) == 0


def test_a_lookup_by_a_nul_id_is_a_validation_failure(session_factory) -> None:
    with pytest.raises(ValidationFailed), UnitOfWork(session_factory, tables) as uow:
        uow.session.get(Organization, "a\x00")


def test_errors_not_caused_by_data_stay_what_they_are(session_factory) -> None:
    with pytest.raises(ValueError, match="a bug"), UnitOfWork(session_factory, tables):
        raise ValueError("a bug, not the caller's data")
    with pytest.raises(ProgrammingError), UnitOfWork(session_factory, tables) as uow:
        uow.session.execute(text("SELECT * FROM no_such_table"))


def test_relay_publishes_pending_events_and_stamps_them(
    session_factory,
    test_environment: RunEnvironment,
) -> None:
    relay = OutboxRelay(
        "identity", test_environment.amqp_uri, session_factory, tables.outbox_message
    )
    received: list[dict] = []
    with Connection(test_environment.amqp_uri) as conn:
        queue = Queue(
            "test-outbox-relay",
            exchange=relay.exchange,
            routing_key="organization.created",
            auto_delete=True,
        )
        with Consumer(
            conn, queues=[queue], callbacks=[lambda body, msg: (received.append(body), msg.ack())]
        ):
            relay.drain()  # events left by other tests go first
            with UnitOfWork(session_factory, tables) as uow:
                org_id = make_org(uow)
            assert relay.publish_pending() == 1
            assert relay.publish_pending() == 0  # stamped: never sent twice by the relay
            deliver_all(conn)
    assert [body["organization_id"] for body in received].count(org_id) == 1
    with session_factory() as s:
        assert (
            s.scalar(
                select(func.count()).where(
                    tables.outbox_message.published_at.is_(None),
                    tables.outbox_message.payload["organization_id"].as_string() == org_id,
                )
            )
            == 0
        )
