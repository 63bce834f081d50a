"""CUIDs, money, and the call context: the small pieces everything else stands on."""

from __future__ import annotations

import eventlet
import pytest

from shared import context
from shared.ids import cuid, is_cuid
from shared.money import format_cents, prorate


def test_cuids_are_unique_well_formed_and_sortable_by_time() -> None:
    ids = [cuid() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert all(is_cuid(i) for i in ids)
    # The 8 timestamp characters after "c" never go backwards.
    stamps = [i[1:9] for i in ids]
    assert stamps == sorted(stamps)


@pytest.mark.parametrize("value", ["", "c123", "x" + "a" * 24, "C" + "a" * 24, 12])
def test_is_cuid_rejects_other_strings(value: object) -> None:
    assert not is_cuid(value)


def test_format_cents() -> None:
    assert format_cents(123456) == "USD 1,234.56"
    assert format_cents(-5) == "-USD 0.05"


def test_prorate_rounds_half_away_from_zero_once() -> None:
    assert prorate(1000, 1, 3) == 333
    assert prorate(1000, 2, 3) == 667
    assert prorate(5, 1, 2) == 3  # 2.5 -> 3
    assert prorate(-5, 1, 2) == -3
    with pytest.raises(ValueError):
        prorate(100, 1, 0)


def test_each_greenthread_sees_only_its_own_call_context() -> None:
    seen: dict[str, str | None] = {}

    def worker(request_id: str) -> None:
        context.bind(context.CallContext(request_id=request_id))
        eventlet.sleep()  # yield: let the other worker run and bind its own context
        seen[request_id] = context.current().request_id

    pool = eventlet.GreenPool()
    for rid in ("req-a", "req-b"):
        pool.spawn(worker, rid)
    pool.waitall()
    assert seen == {"req-a": "req-a", "req-b": "req-b"}
    assert context.current().request_id is None


def test_call_context_round_trips_through_context_data_without_nones() -> None:
    ctx = context.CallContext(request_id="r1", actor_id="u1", actor_type="user", is_staff=True)
    data = ctx.to_context_data()
    assert None not in data.values()
    assert context.CallContext.from_context_data(data) == ctx
