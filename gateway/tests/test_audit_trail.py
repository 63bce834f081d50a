"""The staff trail merges every service's trail newest first and pages across them: each
service is asked for the rows the page could need (in pages it can answer), the totals add
up, and a service that does not answer fails the answer with a 503 naming it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from gateway.audit_trail import SERVICE_PAGE, merged_trail
from shared.errors import Forbidden, Unavailable


def row(service: str, minute: int, second: int = 0) -> dict[str, Any]:
    return {"id": f"{service}-{minute}", "service": service,
            "timestamp": f"2026-10-01T10:{minute:02d}:{second:02d}+00:00"}  # fmt: skip


class Trail:
    """One service's audit_trail RPC over `rows` (newest first), paging as services do."""

    def __init__(self, rows: list[dict[str, Any]], fails: Exception | None = None) -> None:
        self.rows = rows
        self.fails = fails
        self.queries: list[dict[str, Any]] = []

    def call_async(self, query: dict[str, Any]) -> Any:
        self.queries.append(query)
        assert query["limit"] <= SERVICE_PAGE

        def result() -> dict[str, Any]:
            if self.fails is not None:
                raise self.fails
            page = self.rows[query["offset"] : query["offset"] + query["limit"]]
            return {"items": page, "total": len(self.rows), "limit": query["limit"],
                    "offset": query["offset"]}  # fmt: skip

        return SimpleNamespace(result=result)


def merged(trails: dict[str, Trail], limit: int = 50, offset: int = 0, **filters: str) -> Any:
    return merged_trail(trails, {"limit": str(limit), **filters}, limit, offset)


def test_rows_of_every_service_come_newest_first_with_the_totals_summed() -> None:
    trails = {
        "identity": Trail([row("identity", 50), row("identity", 10)]),
        "billing": Trail([row("billing", 40), row("billing", 30), row("billing", 5)]),
        "support": Trail([]),
    }
    page = merged(trails, action="service.updated")
    assert [r["id"] for r in page["items"]] == [
        "identity-50", "billing-40", "billing-30", "identity-10", "billing-5"]  # fmt: skip
    assert (page["total"], page["limit"], page["offset"]) == (5, 50, 0)
    assert trails["billing"].queries == [{"action": "service.updated", "limit": 50, "offset": 0}]


def test_a_page_deep_in_the_merge_is_the_slice_of_the_rows_before_it() -> None:
    minutes = {"identity": range(59, 0, -2), "billing": range(58, 0, -2)}
    trails = {name: Trail([row(name, m) for m in each]) for name, each in minutes.items()}
    everything = merged(trails, limit=200)["items"]
    page = merged(trails, limit=5, offset=7)
    assert page["items"] == everything[7:12]
    assert [r["id"] for r in page["items"]] == [f"{'identity' if m % 2 else 'billing'}-{m}"
                                                for m in range(52, 47, -1)]  # fmt: skip
    assert page["total"] == 59


def test_a_page_deeper_than_a_service_answers_at_once_is_asked_for_in_pages() -> None:
    rows = [row("metering", 59 - i // 60, 59 - i % 60) for i in range(450)]
    trails = {"metering": Trail(rows), "support": Trail([row("support", 1)])}
    page = merged(trails, limit=10, offset=440)
    assert page["items"] == rows[440:450]
    assert [(q["offset"], q["limit"]) for q in trails["metering"].queries] == [
        (0, 200), (200, 200), (400, 50)]  # fmt: skip


def test_timestamps_are_compared_as_moments_not_as_text() -> None:
    late = {"id": "late", "timestamp": "2026-10-01T10:00:00.5+00:00"}
    early = {"id": "early", "timestamp": "2026-10-01T10:00:00+00:00"}
    trails = {"a": Trail([early]), "b": Trail([late])}
    assert [r["id"] for r in merged(trails)["items"]] == ["late", "early"]


def test_a_service_that_does_not_answer_is_named_in_a_503() -> None:
    trails = {
        "identity": Trail([row("identity", 1)]),
        "payments": Trail([], fails=Unavailable("a service did not answer in time")),
        "support": Trail([], fails=Unavailable("a service did not answer in time")),
    }
    with pytest.raises(Unavailable) as refused:
        merged(trails)
    assert set(refused.value.fields) == {"payments", "support"}
    assert "payments, support" in refused.value.message


def test_a_refusal_of_a_service_is_the_answer() -> None:
    trails = {"identity": Trail([]), "billing": Trail([], fails=Forbidden("no"))}
    with pytest.raises(Forbidden):
        merged(trails)
