"""The durable queue terminal usage travels on, from the gateway to metering. Declared by
both sides, so nothing is lost even if metering has never run yet."""

from kombu import Exchange, Queue

USAGE_EXCHANGE = Exchange("metering.usage", type="direct", durable=True)
USAGE_QUEUE = Queue("metering.usage", exchange=USAGE_EXCHANGE, routing_key="usage", durable=True)
USAGE_ROUTING_KEY = "usage"
