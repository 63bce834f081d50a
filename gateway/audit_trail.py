"""One audit trail across the services: each keeps its own (hash-chained, see
shared/audit.py); the gateway asks them all at once and merges their pages, newest first.

A page of the merge at `offset` needs the first `offset + limit` rows of every service (any
of them may hold all of those rows), so the depth one can page to is bounded
(`MAX_DEPTH`): narrower filters (`from`/`to`) reach further back. A service that does
not answer fails the whole answer (503 naming it): a trail with a hole in it would read
as complete.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Any

from gateway.fan_out import ask_every_service
from shared.rpc import call

# The most rows one service answers in one call (shared.schemas.PageQuerySchema).
SERVICE_PAGE = 200
# How deep the merge pages: offset + limit at most this.
MAX_DEPTH = 2000


def _moment(item: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(item["timestamp"])


def _rows(trail: Any, query: dict[str, Any], depth: int) -> tuple[list[dict[str, Any]], int]:
    """The first `depth` rows of one service's trail (newest first), and its total."""
    rows: list[dict[str, Any]] = []
    total = 0
    while len(rows) < depth:
        limit = min(SERVICE_PAGE, depth - len(rows))
        page = call(trail, {**query, "limit": limit, "offset": len(rows)})
        rows += page["items"]
        total = page["total"]
        if len(page["items"]) < limit or len(rows) >= total:
            break
    return rows, total


def merged_trail(
    trails: Mapping[str, Any], filters: Mapping[str, str], limit: int, offset: int
) -> dict[str, Any]:
    """The page at `offset` of every service's trail merged, newest first. `trails` maps
    each service's name to its `audit_trail` RPC method; `filters` are AuditQuerySchema's,
    as sent (each service checks them again)."""
    asked = {key: value for key, value in filters.items() if key not in ("limit", "offset")}
    answers = ask_every_service(
        {name: partial(_rows, trail, asked, offset + limit) for name, trail in trails.items()},
        "the audit trail is incomplete",
    )
    pages = list(answers.values())
    # Each service's rows are newest first already: merge, do not re-sort.
    merged = heapq.merge(*(rows for rows, _ in pages), key=_moment, reverse=True)
    items = [row for _, row in zip(range(offset + limit), merged, strict=False)][offset:]
    return {
        "items": items,
        "total": sum(total for _, total in pages),
        "limit": limit,
        "offset": offset,
    }
