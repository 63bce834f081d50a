"""How much work waits for each service: the queues its entrypoints consume (RPC, events,
work queues), read from the service classes, and their depths, asked of RabbitMQ.

Broadcast queues are left out: each running instance has its own, named after it."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from amqp.exceptions import NotFound
from kombu import Connection
from nameko.events import SERVICE_POOL, EventHandler
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.messaging import Consumer
from nameko.rpc import RPC_QUEUE_TEMPLATE, Rpc

from ops.table import format_table
from shared import config, dead_letters
from shared.components import service_class


@dataclass(frozen=True)
class QueueDepth:
    service: str
    queue: str
    # None when the queue does not exist (the service has never run on this broker).
    ready: int | None
    consumers: int | None


def consumed_queues(service: str) -> list[str]:
    """The queue names nameko declares for the service's entrypoints, RPC first."""
    names: set[str] = set()
    cls = service_class(service)
    for method_name in dir(cls):
        for entrypoint in getattr(getattr(cls, method_name), ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(entrypoint, Rpc):
                names.add(RPC_QUEUE_TEMPLATE.format(service))
            elif isinstance(entrypoint, EventHandler) and entrypoint.handler_type == SERVICE_POOL:
                source, event_type = entrypoint.source_service, entrypoint.event_type
                names.add(f"evt-{source}-{event_type}--{service}.{method_name}")
            elif isinstance(entrypoint, Consumer):
                names.add(entrypoint.queue.name)
    rpc_queue = RPC_QUEUE_TEMPLATE.format(service)
    return sorted(names, key=lambda name: (name != rpc_queue, name))


def depths(amqp_uri: str, services: tuple[str, ...]) -> list[QueueDepth]:
    """Every consumed queue of each service, and its dead-letter queue, as RabbitMQ counts
    them now (a passive declare: nothing is created)."""
    found = []
    with Connection(amqp_uri, connect_timeout=5) as connection:
        for service in services:
            queues = [*consumed_queues(service), dead_letters.dead_letter_queue(service).name]
            for name in queues:
                channel = connection.channel()
                try:
                    _, ready, consumers = channel.queue_declare(name, passive=True)
                except NotFound:
                    found.append(QueueDepth(service, name, None, None))
                    continue
                finally:
                    # A failed passive declare closes the channel on the broker's side.
                    channel.close()
                found.append(QueueDepth(service, name, ready, consumers))
    return found


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def summary_rows(found: list[QueueDepth]) -> list[tuple[str, str, str, str, str]]:
    """Per service: instances consuming its RPC queue, messages waiting in all its queues,
    the queue holding most, and its dead letters."""
    rows = []
    for service in dict.fromkeys(depth.service for depth in found):
        mine = [depth for depth in found if depth.service == service]
        rpc, parked = mine[0], mine[-1]
        work = mine[:-1]
        waiting = sum(depth.ready or 0 for depth in work)
        busiest = max(work, key=lambda depth: depth.ready or 0)
        rows.append((
            service,
            _count(rpc.consumers),
            str(waiting),
            f"{busiest.queue} ({busiest.ready})" if busiest.ready else "-",
            _count(parked.ready),
        ))  # fmt: skip
    return rows


SUMMARY_HEADERS = ("service", "instances", "waiting", "busiest queue", "dead letters")


def _run(args: argparse.Namespace) -> None:
    found = depths(config.AMQP_URI.get(), tuple(args.services or config.SERVICES))
    rows = [(d.service, d.queue, _count(d.ready), _count(d.consumers)) for d in found]
    print(format_table(["service", "queue", "waiting", "consumers"], rows))
    print("\n'-': the queue does not exist yet (the service never ran on this broker)")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "queues", help="every queue the services consume, with its depth and consumers"
    )
    parser.add_argument("services", nargs="*", choices=[[], *config.SERVICES], default=[])
    parser.set_defaults(run=_run)
