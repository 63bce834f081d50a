"""RPC: p50/p99 of a trivial call between two processes over RabbitMQ, against a raw
kombu round trip (publish with `reply_to`, an echo in the other process answers) in the
same run. Also the suite's own `health` RPC of metering (context signed and checked, one
database round trip), for what a real call adds.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable

from kombu import Connection, Consumer, Exchange, Producer, Queue
from nameko.standalone.rpc import ClusterRpcProxy

from bench import wrk
from bench.bare_service import ECHO_QUEUE
from bench.results import Report, Row, ratio
from bench.stack import Stack, stop_process
from ops.processes import free_port
from shared import context
from shared.waiting import wait_until

WARM_UP_CALLS = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=2000, help="sequential calls of each kind")


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def timed_calls(label: str, calls: int, call: Callable[[], object]) -> list[float]:
    for _ in range(WARM_UP_CALLS):
        call()
    samples = []
    for done in range(1, calls + 1):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
        if done % 200 == 0 or done == calls:
            wrk.progress(f"{label}: {done:,} of {calls:,} calls")
    wrk.progress(f"{label}: done", end=True)
    return samples


class KombuRoundTrip:
    """One message to the echo queue and its reply, on one connection kept open."""

    def __init__(self, amqp_uri: str) -> None:
        self.connection = Connection(amqp_uri)
        channel = self.connection.channel()
        self.replies = Queue(
            f"bench.replies.{uuid.uuid4().hex}", Exchange(""), exclusive=True, auto_delete=True
        )
        self.replies.bind(channel).declare()
        ECHO_QUEUE.bind(channel).declare()
        self.producer = Producer(channel)
        self.answer: object = None
        self.consumer = Consumer(channel, [self.replies], callbacks=[self._got], accept=["json"])
        self.consumer.consume()

    def _got(self, body: object, message: object) -> None:
        self.answer = body
        message.ack()

    def __call__(self) -> object:
        self.answer = None
        self.producer.publish(
            {"ping": True},
            routing_key=ECHO_QUEUE.name,
            reply_to=self.replies.name,
            correlation_id=uuid.uuid4().hex,
            serializer="json",
        )
        while self.answer is None:
            self.connection.drain_events(timeout=10)
        return self.answer

    def close(self) -> None:
        self.consumer.cancel()
        self.connection.release()


def run(stack: Stack, args: argparse.Namespace) -> Report:
    bare = stack.spawn("bench.bare_service", f"127.0.0.1:{free_port()}", log_name="bare-rpc")
    amqp_uri = stack.env.amqp_uri
    system = context.CallContext(actor_type=context.SYSTEM).to_context_data()
    try:
        with ClusterRpcProxy({"AMQP_URI": amqp_uri}, context_data=system) as cluster:
            wait_until(lambda: _answers(cluster.bench_bare.ping), 60, "the bare service")
            kombu = KombuRoundTrip(amqp_uri)
            try:
                raw = timed_calls("raw kombu round trip", args.calls, kombu)
            finally:
                kombu.close()
            ping = timed_calls("nameko RPC bench_bare.ping()", args.calls, cluster.bench_bare.ping)
            health = timed_calls("suite RPC metering.health()", args.calls, cluster.metering.health)
    finally:
        stop_process(bare)
    report = Report("rpc")
    for label, samples in (
        ("nameko RPC, trivial (ping)", ping),
        ("suite RPC metering.health (signed, 1 SQL)", health),
    ):
        for name, share in (("p50", 0.5), ("p99", 0.99)):
            ours, base = percentile(samples, share), percentile(raw, share)
            report.add(
                Row(f"{label} {name}", f"{ours:.2f} ms", f"{base:.2f} ms", ratio(ours, base))
            )
    report.figures = {
        name: {
            "calls": len(samples),
            "p50_ms": percentile(samples, 0.5),
            "p99_ms": percentile(samples, 0.99),
            "mean_ms": statistics.fmean(samples),
        }
        for name, samples in (("raw_kombu", raw), ("nameko_ping", ping), ("suite_health", health))
    }
    return report


def _answers(call: Callable[[], object]) -> bool:
    try:
        return call() == "pong"
    except Exception:
        return False
