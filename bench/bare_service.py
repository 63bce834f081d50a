"""The baselines the suite's own paths are held against, as a process of their own:

    python -m bench.bare_service HOST:PORT

- `GET /bare`: a Nameko `@http` handler returning a constant (nothing checked, nothing
  recorded): what the gateway's terminal path costs on top of Nameko's web server;
- `bench_bare.ping()`: a trivial RPC (no call-context check: the suite's `health` RPC is
  measured beside it with everything on);
- a raw kombu echo on the queue `bench.echo` (a reply to `reply_to` with the same
  `correlation_id`): what an RPC costs on top of one AMQP round trip.
"""

import eventlet

eventlet.monkey_patch()

import sys  # noqa: E402
from typing import Any  # noqa: E402

from kombu import Connection, Exchange, Producer, Queue  # noqa: E402
from nameko.cli.run import run  # noqa: E402
from nameko.extensions import DependencyProvider  # noqa: E402
from nameko.rpc import rpc  # noqa: E402
from nameko.web.handlers import http  # noqa: E402

from shared import config  # noqa: E402

# Declared by both sides, so a ping sent before the echo is up waits for it.
ECHO_QUEUE = Queue("bench.echo", Exchange(""), routing_key="bench.echo", auto_delete=True)


def serve_echo(amqp_uri: str) -> None:
    """Answer every message on `bench.echo` with its own body, as kombu alone can."""
    with Connection(amqp_uri) as connection:
        producer = Producer(connection.channel())

        def reply(body: Any, message: Any) -> None:
            producer.publish(
                body,
                routing_key=message.properties["reply_to"],
                correlation_id=message.properties["correlation_id"],
                serializer="json",
            )
            message.ack()

        with connection.Consumer(ECHO_QUEUE, callbacks=[reply], accept=["json"]):
            while True:
                connection.drain_events()


class RawEcho(DependencyProvider):
    """Runs the kombu echo beside the Nameko service, in the same process."""

    def start(self) -> None:
        self.container.spawn_managed_thread(lambda: serve_echo(self.container.config["AMQP_URI"]))


class BareService:
    name = "bench_bare"
    echo = RawEcho()

    @http("GET", "/bare")
    def bare(self, request: Any) -> tuple[int, str]:
        return 200, '{"ok":true}'

    @rpc
    def ping(self) -> str:
        return "pong"


if __name__ == "__main__":
    run(
        [BareService],
        {
            "AMQP_URI": config.AMQP_URI.get(),
            "WEB_SERVER_ADDRESS": sys.argv[1],
            "max_workers": int(config.MAX_WORKERS.get()),
            "serializer": "json",
        },
    )
