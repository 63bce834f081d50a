"""Is the suite ready? The broker answers and every service answers `health` in time.
The answer also counts each service's parked messages (dead letters), which need a person
but do not make the suite unready."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import eventlet
from kombu import Connection
from nameko.exceptions import RemoteError

from shared import dead_letters
from shared.db import database_unavailable
from shared.errors import Unavailable


def broker_reachable(amqp_uri: str, timeout: float) -> bool:
    try:
        with Connection(amqp_uri, connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False


def _probe(health_method: Any, timeout: float) -> str:
    try:
        with eventlet.Timeout(timeout):
            health_method.call_async().result()
        return "ok"
    except eventlet.Timeout:
        return f"no answer within {timeout:g} s"
    except RemoteError as exc:
        if database_unavailable(exc.exc_type):
            return f"database unavailable ({exc.exc_type})"
        return f"failed: {exc.exc_type}"
    except Exception as exc:
        return f"failed: {type(exc).__name__}"


def check_ready(amqp_uri: str, health_methods: Mapping[str, Any], timeout: float) -> dict[str, Any]:
    """Probe every service at once; raise `Unavailable` naming those that did not answer."""
    if not broker_reachable(amqp_uri, timeout):
        raise Unavailable("not ready: the message broker is unreachable", {"broker": ["down"]})
    pool = eventlet.GreenPool(len(health_methods))
    names = list(health_methods)
    probes = pool.imap(lambda name: _probe(health_methods[name], timeout), names)
    results = dict(zip(names, probes, strict=True))
    failed = {name: [state] for name, state in results.items() if state != "ok"}
    if failed:
        raise Unavailable(f"not ready: {', '.join(sorted(failed))}", failed)
    return {
        "status": "ready",
        "services": results,
        "dead_letters": dead_letters.count(amqp_uri, tuple(health_methods)),
    }
