"""Idempotency-Key claims against the run's real Redis."""

from __future__ import annotations

import uuid

import pytest

from gateway.idempotency import KEEP_SECONDS, PENDING_SECONDS, IdempotencyStore
from shared import context
from shared.errors import Conflict
from tests.harness import RunEnvironment


@pytest.fixture
def store(test_environment: RunEnvironment) -> IdempotencyStore:
    context.bind(context.CallContext(actor_type=context.USER, actor_id=uuid.uuid4().hex))
    return IdempotencyStore()


def _slot(store: IdempotencyStore, key: str) -> str:
    ctx = context.current()
    return f"{store.namespace}:idem:{ctx.actor_type}:{ctx.actor_id}:POST:/v1/things:{key}"


def test_a_claim_left_by_a_dead_gateway_frees_itself_long_before_a_day(
    store: IdempotencyStore,
) -> None:
    seen_ttl: list[int] = []

    def answer_while_watching_the_claim() -> tuple[int, dict]:
        seen_ttl.append(store.redis.ttl(_slot(store, "k1")))
        with pytest.raises(Conflict):
            store.run_once("k1", "POST", "/v1/things", lambda: (201, {}))
        return 201, {"id": "a"}

    assert store.run_once("k1", "POST", "/v1/things", answer_while_watching_the_claim) == (
        201,
        {"id": "a"},
        False,
    )
    assert 0 < seen_ttl[0] <= PENDING_SECONDS < KEEP_SECONDS
    # The kept answer lasts the full day and is replayed.
    assert store.redis.ttl(_slot(store, "k1")) > PENDING_SECONDS
    assert store.run_once("k1", "POST", "/v1/things", lambda: (500, {})) == (
        201,
        {"id": "a"},
        True,
    )
