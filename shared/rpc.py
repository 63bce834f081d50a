"""RPC calls with a deadline: a service that does not answer is `Unavailable` (503 with
`Retry-After` at the gateway), never a caller hanging on a reply that will not come."""

from __future__ import annotations

from typing import Any

import eventlet
import kombu.exceptions
from nameko.exceptions import RemoteError

from shared import tracing
from shared.db import database_unavailable
from shared.errors import Unavailable

# The gateway's deadline; services calling each other inside a gateway request use less,
# so their own answer (a 503) reaches the gateway before it gives up on them.
RPC_TIMEOUT_SECONDS = 10.0


def call(method: Any, *args: Any, timeout: float = RPC_TIMEOUT_SECONDS) -> Any:
    """`method` is an RpcProxy method, e.g. `call(self.identity.get_organization, org_id)`.
    A broker that cannot be reached, and a service whose database cannot, are `Unavailable`
    too: the same call may succeed once they are back."""
    with tracing.rpc_call(method):
        try:
            reply = method.call_async(*args)
        except kombu.exceptions.OperationalError as exc:
            # How kombu fails once its own reconnection attempts are spent.
            raise Unavailable("the message broker is unreachable") from exc
        with eventlet.Timeout(timeout, Unavailable("a service did not answer in time")):
            try:
                return reply.result()
            except RemoteError as exc:
                if database_unavailable(exc.exc_type):
                    raise Unavailable("a service's database is unavailable") from exc
                raise
