"""One transaction, its audit rows and its outgoing events, committed together.

    with db.transaction() as uow:
        org = Organization(...)
        uow.session.add(org)
        uow.audit("organization.created", "Organization", org.id)
        uow.emit(OrganizationCreated(organization_id=org.id, ...))

Leaving the block commits; an exception rolls everything back, so a change without its
audit row or its event cannot exist. Handlers commit inside the entrypoint, before nameko
acknowledges the message or sends the RPC reply.

Audit rows join their service's hash chain (`shared.audit`) just before the commit, so
the chain's lock is held from there to the commit only, not while the transaction works.

A statement the database refuses because of the data in it (a value out of range, too long
for its column, a NUL character, invalid text) is the caller's fault, not the service's:
it leaves the block as `ValidationFailed` (422), never as a crash or a retry loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import PurePath
from types import TracebackType
from typing import Any, Protocol

from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from shared import audit as audit_chain
from shared import context, metrics, tracing
from shared.clock import utcnow
from shared.db import StandardTables
from shared.errors import ValidationFailed
from shared.events import Event
from shared.ids import cuid

log = logging.getLogger(__name__)

# Where psycopg2 refuses a parameter before sending it (NUL, lone surrogates): plain
# ValueErrors raised from the statement's execution.
_DRIVER_PACKAGES = frozenset({"sqlalchemy", "psycopg2"})
MAX_REASON = 200


def caused_by_data(exc: BaseException) -> bool:
    """Whether the database (or its driver) refused a statement for the values in it."""
    if isinstance(exc, DataError):
        return True
    if not isinstance(exc, ValueError) or exc.__traceback__ is None:
        return False
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return not _DRIVER_PACKAGES.isdisjoint(PurePath(tb.tb_frame.f_code.co_filename).parts)


def refused_data(exc: BaseException) -> ValidationFailed:
    if isinstance(exc, DataError):
        diag = getattr(exc.orig, "diag", None)
        reason = getattr(diag, "message_primary", None) or str(exc.orig).split("\n")[0]
    elif isinstance(exc, UnicodeError):
        reason = "a string is not valid Unicode (an unpaired surrogate)"
    else:
        reason = "a string contains a NUL character"
    log.warning("the database refused a value: %s", reason[:MAX_REASON])
    return ValidationFailed(
        "invalid input: the database refused a value", {"_schema": [reason[:MAX_REASON]]}
    )


class UnitOfWork:
    def __init__(
        self,
        session_factory: Callable[[], Session],
        tables: StandardTables,
        after_commit: Callable[[list[str]], Any] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self.tables = tables
        self._after_commit = after_commit
        self._emitted: list[Event] = []
        self._audited: list[Any] = []
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        self._emitted = []
        self._audited = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                if self._audited:
                    self.session.flush()
                    audit_chain.append(self.session, self.tables.audit_log, self._audited)
                self.session.commit()
            else:
                self.session.rollback()
        except Exception as failed:
            if caused_by_data(failed):
                raise refused_data(failed) from failed
            raise
        finally:
            self.session.close()
        if exc is not None and caused_by_data(exc):
            raise refused_data(exc) from exc
        if exc_type is None and self._emitted:
            metrics.count_committed(self._emitted)
        if exc_type is None and self._emitted and self._after_commit is not None:
            # Fast path only: if this fails the relay loop publishes the rows later.
            try:
                self._after_commit([event.event_id for event in self._emitted])
            except Exception:
                log.warning(
                    "publishing %d event(s) deferred to the outbox relay",
                    len(self._emitted),
                    exc_info=True,
                )

    def audit(
        self,
        action: str,
        entity_type: str,
        entity_id: str,
        metadata: dict[str, Any] | None = None,
        *,
        organization_id: str | None = None,
    ) -> None:
        """Record `action` on the entity, by the current caller, in this transaction.
        `organization_id` is the organization the change concerns, when the caller's
        context does not say it (event handlers, timers, staff acting on an organization)."""
        ctx = context.current()
        self._audited.append(
            self.tables.audit_log(
                id=cuid(),
                timestamp=utcnow(),
                actor_id=ctx.actor_id,
                actor_type=ctx.actor_type,
                organization_id=organization_id or ctx.organization_id,
                action=action,
                entity_type=entity_type,
                entity_id=entity_id,
                # As it will read back from JSONB, so that the row's hash is the same then.
                metadata_=audit_chain.normalized(metadata),
                ip_address=ctx.client_ip,
                user_agent=ctx.user_agent,
                request_id=ctx.request_id,
            )
        )

    def emit(self, event: Event) -> str:
        """Queue `event` for publication once (and only if) this transaction commits.
        Its contract was checked when it was made (`shared.events`)."""
        service = self.tables.outbox_message.__table__.schema
        if event.source != service:
            # It would go out on another service's exchange, where nobody listens for it.
            raise TypeError(f"{service} cannot publish {event.source}'s {event.event_type}")
        # The span that emitted the event becomes its handlers' parent (tracing on).
        headers = tracing.publishing_headers()
        self.session.add(
            self.tables.outbox_message(
                id=event.event_id,
                event_type=event.event_type,
                payload=event.to_payload(),
                headers=headers,
            )
        )
        self._emitted.append(event)
        return event.event_id


class Transactions(Protocol):
    """What opens units of work (a service's `db`). Domain code that needs several
    transactions of its own takes one of these, not the Nameko dependency behind it."""

    def transaction(self) -> UnitOfWork: ...
