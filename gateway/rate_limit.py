"""Per-API-key hourly rate limits shared by every gateway instance (Redis, fixed windows).

One round trip per request (INCR + EXPIRE in a pipeline). If Redis is unreachable the
gateway lets requests through and logs it: terminals keep working during a Redis outage.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis

from shared import config

log = logging.getLogger(__name__)

WINDOW_SECONDS = 3600


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    reset_at: int  # epoch seconds when the window ends
    allowed: bool

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }

    @property
    def retry_after(self) -> int:
        return max(1, self.reset_at - int(time.time()))


class RateLimiter:
    def __init__(self) -> None:
        self.redis = redis.Redis.from_url(
            config.REDIS_URL.get(), socket_timeout=0.5, socket_connect_timeout=0.5
        )
        self.namespace = config.REDIS_NAMESPACE.get()

    def hit(self, api_key_id: str, limit: int) -> RateLimitState | None:
        window = int(time.time()) // WINDOW_SECONDS
        key = f"{self.namespace}:rate:{api_key_id}:{window}"
        try:
            pipe = self.redis.pipeline()
            pipe.incr(key)
            pipe.expire(key, WINDOW_SECONDS + 60)
            count = int(pipe.execute()[0])
        except redis.RedisError:
            log.warning(
                "rate limits unavailable (Redis); letting the request through", exc_info=True
            )
            return None
        return RateLimitState(
            limit=limit,
            remaining=max(0, limit - count),
            reset_at=(window + 1) * WINDOW_SECONDS,
            allowed=count <= limit,
        )
