"""`Idempotency-Key` on writes: a client that retries a POST/PATCH/DELETE after a timeout,
with the same key, gets the first answer again instead of a second effect.

The first request with a key claims it in Redis (SET NX) and, once answered, stores the
answer there for 24 hours; a repeat gets that answer with
`Idempotent-Replayed: true`, and a repeat while the first is still running gets 409.
Keys are per signed-in caller (person or API key), method and path. A request that fails
changed nothing (its transaction rolled back), so its key is released for a retry.
Without Redis the header is ignored (and logged): requests still work.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import redis
from nameko.extensions import DependencyProvider

from shared import config, context
from shared.errors import Conflict, ValidationFailed

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
KEEP_SECONDS = 24 * 3600
# A claim outlives the longest the gateway waits for an answer (600 s), so a request still
# running is never run twice; a claim left by a gateway that died mid-request frees itself
# after it instead of refusing the client's retries for a day.
PENDING_SECONDS = 15 * 60
KEY_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
_VALID_KEY = re.compile(KEY_PATTERN)
_PENDING = b"pending"


class IdempotencyStore:
    def __init__(self) -> None:
        self.redis = redis.Redis.from_url(
            config.REDIS_URL.get(), socket_timeout=0.5, socket_connect_timeout=0.5
        )
        self.namespace = config.REDIS_NAMESPACE.get()

    def run_once(
        self, key: str, method: str, path: str, answer: Callable[[], tuple[int, Any] | None]
    ) -> tuple[int, Any, bool] | None:
        """(status, payload, replayed); None when `answer` gave nothing worth keeping."""
        if not _VALID_KEY.match(key):
            raise ValidationFailed(
                "bad Idempotency-Key", {HEADER: ["1 to 128 letters, digits or ._:-"]}
            )
        ctx = context.current()
        slot = f"{self.namespace}:idem:{ctx.actor_type}:{ctx.actor_id}:{method}:{path}:{key}"
        try:
            claimed = self.redis.set(slot, _PENDING, nx=True, ex=PENDING_SECONDS)
            stored = None if claimed else self.redis.get(slot)
        except redis.RedisError:
            log.warning("Idempotency-Key ignored: Redis unavailable", exc_info=True)
            answered = answer()
            return None if answered is None else (*answered, False)
        if not claimed:
            if stored is None or stored == _PENDING:
                raise Conflict("a request with this Idempotency-Key is still in progress")
            first = json.loads(stored)
            return first["status"], first["payload"], True
        try:
            answered = answer()
        except BaseException:
            self._forget(slot)
            raise
        if answered is None:
            self._forget(slot)
            return None
        status, payload = answered
        self._keep(slot, status, payload)
        return status, payload, False

    def _keep(self, slot: str, status: int, payload: Any) -> None:
        try:
            document = json.dumps({"status": status, "payload": payload})
            self.redis.set(slot, document, ex=KEEP_SECONDS)
        except redis.RedisError:
            log.warning("could not keep the answer for an Idempotency-Key", exc_info=True)

    def _forget(self, slot: str) -> None:
        try:
            self.redis.delete(slot)
        except redis.RedisError:
            log.warning("could not release an Idempotency-Key", exc_info=True)


class IdempotencyKeys(DependencyProvider):
    def setup(self) -> None:
        self.store = IdempotencyStore()

    def get_dependency(self, worker_ctx: Any) -> IdempotencyStore:
        return self.store
