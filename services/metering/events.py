"""What metering shares with the rest of the suite: the events it publishes, and the work
queue terminal usage travels on. Contracts only: this module imports nothing but
`shared.events` and kombu's declarations."""

from __future__ import annotations

from dataclasses import dataclass

from kombu import Exchange, Queue

from shared.events import Event

# The durable queue terminal usage travels on, from the gateway to metering; declared by
# both sides, so nothing is lost even if metering has never run yet. A message is
# `{organization_id, api_key_id, received_at, events: [...]}`.
USAGE_EXCHANGE = Exchange("metering.usage", type="direct", durable=True)
USAGE_ROUTING_KEY = "usage"
USAGE_QUEUE = Queue(
    "metering.usage", exchange=USAGE_EXCHANGE, routing_key=USAGE_ROUTING_KEY, durable=True
)


@dataclass(frozen=True, kw_only=True)
class EventTypesChanged(Event):
    """Staff add or change an event type terminals may report."""

    source = "metering"
    event_type = "event_types.changed"

    name: str
