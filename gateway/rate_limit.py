"""Per-API-key hourly rate limits shared by every gateway instance (Redis, fixed windows).

A Redis round trip on every terminal request was a quarter of the gateway's time under
load (docs/performance.md). So each gateway counts locally and adds its hits to the
shared counter in Redis (INCRBY) every `FLUSH_SECONDS`, learning the other gateways'
hits from the answer. Exactness is kept where it matters: the first request of a key in
a window, and every request once fewer than `sync_margin(limit)` remain, go to Redis
themselves (INCR), so a key is refused at its limit as exactly as before. Far from the
limit, `X-RateLimit-Remaining` may lag the other gateways' last `FLUSH_SECONDS` of hits.

If Redis is unreachable the gateway lets requests through and logs it: terminals keep
working during a Redis outage.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis

from shared import config

log = logging.getLogger(__name__)

WINDOW_SECONDS = 3600
FLUSH_SECONDS = 0.25
FRESH_SECONDS = 2 * FLUSH_SECONDS
# Below this many remaining requests (or a tenth of the limit, if more), every request
# asks Redis: more than other gateways can add unseen in FLUSH_SECONDS at any sane rate.
SYNC_MARGIN = 100


def sync_margin(limit: int) -> int:
    return max(SYNC_MARGIN, limit // 10)


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


@dataclass
class _Count:
    """One key's window as this gateway knows it."""

    shared: int  # the count in Redis when this gateway last asked
    asked_at: float  # time.monotonic() then
    unsent: int = 0  # this gateway's hits since, not yet added there

    def learn(self, count: int) -> None:
        # Answers of concurrent requests may arrive out of order: the count only grows.
        self.shared = max(self.shared, count)
        self.asked_at = time.monotonic()

    def has_room(self, limit: int) -> bool:
        """Far enough from the limit, and recently enough asked, to count locally."""
        return (
            limit - (self.shared + self.unsent) > sync_margin(limit)
            and time.monotonic() - self.asked_at < FRESH_SECONDS
        )


class RateLimiter:
    def __init__(self) -> None:
        self.redis = redis.Redis.from_url(
            config.REDIS_URL.get(), socket_timeout=0.5, socket_connect_timeout=0.5
        )
        self.namespace = config.REDIS_NAMESPACE.get()
        self._counts: dict[tuple[str, int], _Count] = {}

    def hit(self, api_key_id: str, limit: int) -> RateLimitState | None:
        window = int(time.time()) // WINDOW_SECONDS
        known = self._counts.get((api_key_id, window))
        if known is not None and known.has_room(limit):
            known.unsent += 1
            count = known.shared + known.unsent
        else:
            if known is None:
                known = self._counts[(api_key_id, window)] = _Count(shared=0, asked_at=0.0)
            # Taken before the round trip, so the flusher cannot send them too.
            sending, known.unsent = known.unsent + 1, 0
            try:
                count = self._add(api_key_id, window, sending)
            except redis.RedisError:
                known.unsent += sending - 1
                log.warning(
                    "rate limits unavailable (Redis); letting the request through",
                    exc_info=True,
                )
                return None
            known.learn(count)
        return RateLimitState(
            limit=limit,
            remaining=max(0, limit - count),
            reset_at=(window + 1) * WINDOW_SECONDS,
            allowed=count <= limit,
        )

    def _add(self, api_key_id: str, window: int, hits: int) -> int:
        key = f"{self.namespace}:rate:{api_key_id}:{window}"
        pipe = self.redis.pipeline(transaction=False)
        pipe.incrby(key, hits)
        pipe.expire(key, WINDOW_SECONDS + 60)
        return int(pipe.execute()[0])

    def flush(self) -> None:
        """Add every key's unsent hits to Redis and learn its shared count; forget the
        windows that are over. Runs every FLUSH_SECONDS."""
        current = int(time.time()) // WINDOW_SECONDS
        for (api_key_id, window), known in list(self._counts.items()):
            if known.unsent:
                sending, known.unsent = known.unsent, 0
                try:
                    known.learn(self._add(api_key_id, window, sending))
                except redis.RedisError:
                    known.unsent += sending
                    log.warning("could not add %d hit(s) to the rate limits (Redis); keeping "
                                "them", sending, exc_info=True)  # fmt: skip
                    return
            if window < current and not known.unsent:
                del self._counts[(api_key_id, window)]
