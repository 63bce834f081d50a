"""Rate limits counted locally and added up in Redis: exact near the limit, shared by
gateways, and nothing counted twice or lost by the flusher."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from gateway import rate_limit
from gateway.rate_limit import FRESH_SECONDS, SYNC_MARGIN, RateLimiter, sync_margin
from shared import config


@pytest.fixture
def namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"cvt-test-rate-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(config.REDIS_NAMESPACE.name, name)
    yield name
    client = redis.Redis.from_url(config.REDIS_URL.get())
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)


def shared_count(namespace: str) -> int:
    client = redis.Redis.from_url(config.REDIS_URL.get())
    return sum(int(client.get(key)) for key in client.scan_iter(f"{namespace}:rate:*"))


def test_two_gateways_refuse_exactly_at_a_small_limit(namespace: str) -> None:
    first, second = RateLimiter(), RateLimiter()
    states = [limiter.hit("key", 6) for limiter in (first, second) * 4]
    assert [s.remaining for s in states] == [5, 4, 3, 2, 1, 0, 0, 0]
    assert [s.allowed for s in states] == [True] * 6 + [False] * 2


def test_far_from_the_limit_hits_are_counted_locally_then_added_up(namespace: str) -> None:
    limiter = RateLimiter()
    limit = 10 * SYNC_MARGIN
    states = [limiter.hit("key", limit) for _ in range(50)]
    assert [s.remaining for s in states] == list(range(limit - 1, limit - 51, -1))
    # Only the first hit of the window went to Redis.
    assert shared_count(namespace) == 1
    limiter.flush()
    assert shared_count(namespace) == 50


def test_a_gateway_learns_the_others_hits_when_it_flushes(namespace: str) -> None:
    first, second = RateLimiter(), RateLimiter()
    limit = 10 * SYNC_MARGIN
    for _ in range(30):
        first.hit("key", limit)
    first.flush()
    second.hit("key", limit)
    for _ in range(10):
        second.hit("key", limit)
    second.flush()
    assert second.hit("key", limit).remaining == limit - 42
    assert shared_count(namespace) == 41


def test_within_the_margin_every_hit_asks_redis(namespace: str) -> None:
    first, second = RateLimiter(), RateLimiter()
    limit = 2 * SYNC_MARGIN
    assert sync_margin(limit) == SYNC_MARGIN
    for _ in range(limit - SYNC_MARGIN):
        first.hit("key", limit)
    first.flush()
    # From here on each hit asks Redis, and sees the other gateway's hits at once.
    for _ in range(SYNC_MARGIN - 1):
        second.hit("key", limit)
    last = first.hit("key", limit)
    assert (last.remaining, last.allowed) == (0, True)
    over = second.hit("key", limit)
    assert (over.remaining, over.allowed) == (0, False)


def test_a_count_gone_stale_is_asked_again(namespace: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = RateLimiter(), RateLimiter()
    limit = 10 * SYNC_MARGIN
    first.hit("key", limit)
    for _ in range(500):
        second.hit("key", limit)
    second.flush()
    later = time.monotonic() + FRESH_SECONDS
    monkeypatch.setattr(rate_limit.time, "monotonic", lambda: later)
    assert first.hit("key", limit).remaining == limit - 502


def test_without_redis_requests_go_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.REDIS_URL.name, "redis://127.0.0.1:1/0")
    assert RateLimiter().hit("key", 5) is None
