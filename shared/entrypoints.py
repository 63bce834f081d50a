"""What every service's `service.py` builds on: reliable message handlers and `health`.

A handler must be idempotent and commit before it returns; the message is acknowledged
after that. A handler that raises does not put its message back at the head of the queue:
the message is retried after growing pauses, then parked as a dead letter (see
`shared.dead_letters`), and the messages behind it flow on meanwhile. Event handlers name
the contract they read (`shared.events`) and get the event as an instance of it; a message
that does not meet the contract is refused, so it is parked at once.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import eventlet
from amqp.exceptions import AMQPError
from kombu import Queue
from nameko.events import BROADCAST, SERVICE_POOL, EventHandler
from nameko.messaging import Consumer
from nameko.rpc import rpc

from shared import audit, dead_letters, metrics, settings
from shared.dependencies import CallContextProvider, Telemetry
from shared.errors import DomainError
from shared.events import Event

log = logging.getLogger(__name__)

# Only when the broker refuses the copy too: wait before handing the message back, so an
# outage does not turn into a hot redelivery loop.
REQUEUE_DELAY_SECONDS = 2.0


class _RetriesThenParks:
    """Mixin for nameko's Consumer and EventHandler: acknowledge on success; on failure,
    acknowledge once a copy is safe in a retry queue or the dead-letter queue."""

    container: Any
    queue: Queue
    queue_consumer: Any

    def handle_message_processed(
        self, message: Any, result: Any = None, exc_info: Any = None
    ) -> None:
        if exc_info is None:
            self._settle(self.queue_consumer.ack_message, message)
            return
        exc = exc_info[1]
        try:
            decision = dead_letters.retry_or_park(
                self.container.config["AMQP_URI"],
                self.container.service_name,
                self.queue.name,
                message,
                exc,
            )
        except Exception:
            log.exception("could not set %s message aside; handing it back", self.queue.name)
            eventlet.sleep(REQUEUE_DELAY_SECONDS)
            self._settle(self.queue_consumer.requeue_message, message)
            return
        counter = metrics.MESSAGES_PARKED if decision.parked else metrics.MESSAGES_RETRIED
        counter.labels(self.container.service_name, self.queue.name).inc()
        if decision.parked:
            log.warning(
                "parked %s message as a dead letter after %d attempt(s): %s",
                self.queue.name, decision.attempts, dead_letters.describe(exc),
            )  # fmt: skip
        else:
            log.info(
                "%s message failed (attempt %d); retrying in %g s",
                self.queue.name, decision.attempts, decision.delay,
            )  # fmt: skip
        self._settle(self.queue_consumer.ack_message, message)

    def _settle(self, settle: Callable[[Any], None], message: Any) -> None:
        """A connection lost under an ack must not kill the service (nameko stops a
        container whose worker raises): the broker hands the unacknowledged message out
        again once it is back, and every handler is idempotent."""
        try:
            settle(message)
        except (OSError, AMQPError) as lost:
            log.warning("%s message not settled, the broker will redeliver it: %r",
                        self.queue.name, lost)  # fmt: skip


class ReliableEventHandler(_RetriesThenParks, EventHandler):
    pass


class ReliableConsumer(_RetriesThenParks, Consumer):
    pass


def _reading(contract: type[Event], handler: Callable) -> Callable:
    """`handler(self, event)` as nameko calls it, with the message body. A body that does
    not meet the contract is refused (ValidationFailed) before the handler runs."""

    @functools.wraps(handler)
    def handle(self: Any, payload: Any) -> Any:
        return handler(self, contract.from_payload(payload))

    return handle


def event_handler(contract: type[Event]) -> Callable[[Callable], Callable]:
    """`@event_handler(InvoiceIssued)`: one instance of this service gets each such event
    (SERVICE_POOL, durable queue), as an `InvoiceIssued`; bounded retries, then a dead
    letter. A payload that does not meet the contract, or of a version this code does not
    read, is parked at once."""

    def decorate(handler: Callable) -> Callable:
        return ReliableEventHandler.decorator(
            contract.source,
            contract.event_type,
            handler_type=SERVICE_POOL,
            expected_exceptions=DomainError,
        )(_reading(contract, handler))

    return decorate


def broadcast_handler(contract: type[Event]) -> Callable[[Callable], Callable]:
    """`@broadcast_handler(ApiKeyRevoked)`: every running instance gets each such event
    (BROADCAST), none is kept for an instance that is down: for caches, which reload at
    start anyway. A payload that does not meet the contract is dropped with a log line."""

    def decorate(handler: Callable) -> Callable:
        return EventHandler.decorator(
            contract.source,
            contract.event_type,
            handler_type=BROADCAST,
            reliable_delivery=False,
            expected_exceptions=DomainError,
        )(_reading(contract, handler))

    return decorate


def queue_consumer(queue: Queue) -> Callable[[Callable], Callable]:
    """A consumer of a durable work queue with bounded retries and a dead letter."""
    return ReliableConsumer.decorator(queue, expected_exceptions=DomainError)


class ServiceBase:
    """Entrypoints every service has. Subclasses set `name`, a `db` Database and, if it
    reads any settings from its table, `declared_settings` (`shared.settings`)."""

    name: str
    call_context = CallContextProvider()
    telemetry = Telemetry()
    db: Any
    declared_settings: settings.ServiceSettings | None = None

    @rpc
    def health(self) -> dict[str, str]:
        self.db.ping()
        return {"service": self.name, "status": "ok"}

    @rpc
    def audit_trail(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """This service's audit rows (AuditQuerySchema → AuditPageSchema): staff read all,
        an organization's OWNER/ADMIN (VIEW_AUDIT) that organization's."""
        with self.db.transaction() as uow:
            return audit.trail(uow.session, uow.tables.audit_log, self.name, query)

    @rpc
    def system_settings(self) -> dict[str, Any]:
        """Staff: this service's settings (ServiceSettingsSchema), secret ones unshown."""
        with self.db.transaction() as uow:
            return settings.dump(self._declared_settings().listing(uow))

    @rpc
    def change_system_settings(self, data: dict[str, Any]) -> dict[str, Any]:
        """Staff: {key: value} (null: back to the default), checked against the
        declaration and audited; answers as `system_settings`."""
        with self.db.transaction() as uow:
            return settings.dump(self._declared_settings().change(uow, data))

    def _declared_settings(self) -> settings.ServiceSettings:
        return self.declared_settings or settings.ServiceSettings(self.name, ())
