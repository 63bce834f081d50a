"""`python -m ops health [SERVICE ...]`: does each service answer its `health` RPC (which
pings its database) over the broker? Exit 0 when all do, 1 otherwise: the Kubernetes
readiness probe and the compose healthcheck run it. Any running instance of a service may
answer."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nameko.standalone.rpc import ClusterRpcProxy

from ops import processes
from ops.table import format_table
from shared import config
from shared.context import SYSTEM, CallContext

TIMEOUT_SECONDS = 10.0


def check(services: tuple[str, ...], timeout: float = TIMEOUT_SECONDS) -> dict[str, str]:
    """Per service: "ok", or what went wrong. Asked with a signed system context, as
    services refuse unsigned calls."""
    signed = CallContext(actor_type=SYSTEM).to_context_data()
    amqp = {"AMQP_URI": config.AMQP_URI.get()}
    try:
        with ClusterRpcProxy(amqp, timeout=timeout, context_data=signed) as rpc:
            return {service: _ask(getattr(rpc, service).health) for service in services}
    except Exception as exc:
        return {service: f"broker unreachable: {type(exc).__name__}: {exc}" for service in services}


def _ask(health: Any) -> str:
    # A service that never ran has no queue: publishing to it fails (UnknownService).
    try:
        health()
    except Exception as exc:
        return f"failed: {type(exc).__name__}: {exc}"
    return "ok"


def _run(args: argparse.Namespace) -> int:
    processes.adopt_local_signing_key(Path(config.CVT_VAR_DIR.get()))
    results = check(tuple(args.services or config.SERVICES), args.timeout)
    print(format_table(["service", "health"], sorted(results.items())))
    return 0 if all(state == "ok" for state in results.values()) else 1


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "health",
        help="ask services for their health RPC; exit 1 unless all answer",
        description=__doc__,
    )
    parser.add_argument("services", nargs="*", choices=[[], *config.SERVICES], default=[])
    parser.add_argument("--timeout", type=float, default=TIMEOUT_SECONDS, help="seconds")
    parser.set_defaults(run=_run)
