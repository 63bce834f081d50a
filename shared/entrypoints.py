"""What every service's `service.py` builds on: reliable event handlers and `health`."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import eventlet
from nameko.events import SERVICE_POOL
from nameko.events import event_handler as nameko_event_handler
from nameko.rpc import rpc

from shared.dependencies import CallContextProvider
from shared.errors import DomainError

log = logging.getLogger(__name__)

# Pause before handing a failed message back to the broker, so a database outage does not
# turn into a hot redelivery loop.
REQUEUE_DELAY_SECONDS = 2.0


def event_handler(source_service: str, event_type: str) -> Callable[[Callable], Callable]:
    """A SERVICE_POOL handler that never loses an event.

    The handler must be idempotent and commit before returning; nameko acks after it
    returns. A `DomainError` means redelivery cannot help (the event is acknowledged and
    logged); any other error puts the event back on its durable queue to be tried again.
    """

    def decorate(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def wrapper(self: Any, payload: dict[str, Any]) -> Any:
            try:
                return handler(self, payload)
            except DomainError as exc:
                log.error("dropping %s event %s: %s", event_type, payload.get("event_id"), exc)
                return None
            except Exception:
                log.exception("%s event %s failed; requeueing", event_type, payload.get("event_id"))
                eventlet.sleep(REQUEUE_DELAY_SECONDS)
                raise

        return nameko_event_handler(
            source_service, event_type, handler_type=SERVICE_POOL, requeue_on_error=True
        )(wrapper)

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
