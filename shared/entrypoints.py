"""What every service's `service.py` builds on: reliable message handlers and `health`."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import eventlet
from kombu import Queue
from nameko.events import SERVICE_POOL
from nameko.events import event_handler as nameko_event_handler
from nameko.messaging import consume
from nameko.rpc import rpc

from shared.dependencies import CallContextProvider
from shared.errors import DomainError

log = logging.getLogger(__name__)

# Pause before handing a failed message back to the broker, so a database outage does not
# turn into a hot redelivery loop.
REQUEUE_DELAY_SECONDS = 2.0


def _never_lost(handler: Callable, what: str) -> Callable:
    """The handler must be idempotent and commit before returning; nameko acknowledges
    after it returns. A `DomainError` means redelivery cannot help (the message is
    acknowledged and logged); any other error puts it back on its durable queue."""

    @functools.wraps(handler)
    def wrapper(self: Any, payload: dict[str, Any]) -> Any:
        try:
            return handler(self, payload)
        except DomainError as exc:
            log.error("dropping %s message %s: %s", what, payload.get("event_id"), exc)
            return None
        except Exception:
            log.exception("%s message %s failed; requeueing", what, payload.get("event_id"))
            eventlet.sleep(REQUEUE_DELAY_SECONDS)
            raise

    return wrapper


def event_handler(source_service: str, event_type: str) -> Callable[[Callable], Callable]:
    """A SERVICE_POOL event handler that never loses an event (see `_never_lost`)."""

    def decorate(handler: Callable) -> Callable:
        return nameko_event_handler(
            source_service, event_type, handler_type=SERVICE_POOL, requeue_on_error=True
        )(_never_lost(handler, event_type))

    return decorate


def queue_consumer(queue: Queue) -> Callable[[Callable], Callable]:
    """A consumer of a durable work queue that never loses a message (see `_never_lost`)."""

    def decorate(handler: Callable) -> Callable:
        return consume(queue, requeue_on_error=True)(_never_lost(handler, queue.name))

    return decorate


class ServiceBase:
    """Entrypoints every service has. Subclasses set `name` and a `db` Database."""

    name: str
    call_context = CallContextProvider()
    db: Any

    @rpc
    def health(self) -> dict[str, str]:
        self.db.ping()
        return {"service": self.name, "status": "ok"}
