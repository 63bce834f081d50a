"""RPC calls with a deadline: a service that does not answer is `Unavailable` (503 with
`Retry-After` at the gateway), never a caller hanging on a reply that will not come."""

from __future__ import annotations

from typing import Any

import eventlet

from shared.errors import Unavailable

# The gateway's deadline; services calling each other inside a gateway request use less,
# so their own answer (a 503) reaches the gateway before it gives up on them.
RPC_TIMEOUT_SECONDS = 10.0


def call(method: Any, *args: Any, timeout: float = RPC_TIMEOUT_SECONDS) -> Any:
    """`method` is an RpcProxy method, e.g. `call(self.identity.get_organization, org_id)`."""
    reply = method.call_async(*args)
    with eventlet.Timeout(timeout, Unavailable("a service did not answer in time")):
        return reply.result()
