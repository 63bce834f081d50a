"""The support routes hand each request to the support RPC the contract names, with the
path values, body and query in order, and answer 201 where something is made."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from werkzeug.wrappers import Request

from gateway.routes import ROUTES, support

REQUEST = Request.from_values("/")
ANSWER = {"id": "t1"}
BODY = {"message": "Hello"}
QUERY = {"limit": 50, "offset": 0}


class Method:
    """An RPC proxy method that answers ANSWER and keeps what it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def call_async(self, *args: Any) -> Any:
        self.calls.append(args)
        return SimpleNamespace(result=lambda: ANSWER)


# Each route's handler, what it is called with, and the RPC and arguments it must send.
CASES = [
    ("open_ticket", {"org_id": "o", "body": BODY}, ("open_ticket", ("o", BODY))),
    ("list_tickets", {"org_id": "o", "query": QUERY}, ("list_tickets", ("o", QUERY))),
    ("get_ticket", {"org_id": "o", "ticket_id": "t"}, ("get_ticket", ("o", "t"))),
    (
        "list_messages",
        {"org_id": "o", "ticket_id": "t", "query": QUERY},
        ("list_messages", ("o", "t", QUERY)),
    ),
    ("reply", {"org_id": "o", "ticket_id": "t", "body": BODY}, ("reply", ("o", "t", BODY))),
    ("close_ticket", {"org_id": "o", "ticket_id": "t"}, ("close_ticket", ("o", "t"))),
    ("list_all_tickets", {"query": QUERY}, ("list_all_tickets", (QUERY,))),
    ("get_any_ticket", {"ticket_id": "t"}, ("get_any_ticket", ("t",))),
    (
        "list_any_messages",
        {"ticket_id": "t", "query": QUERY},
        ("list_any_messages", ("t", QUERY)),
    ),
    (
        "post_staff_message",
        {"ticket_id": "t", "body": BODY},
        ("post_staff_message", ("t", BODY)),
    ),
    ("assign_ticket", {"ticket_id": "t", "body": BODY}, ("assign_ticket", ("t", BODY))),
    (
        "change_ticket_status",
        {"ticket_id": "t", "body": BODY},
        ("change_ticket_status", ("t", BODY)),
    ),
    ("update_ticket", {"ticket_id": "t", "body": BODY}, ("update_ticket", ("t", BODY))),
    ("support_summary", {}, ("support_summary", ())),
]


def test_every_support_route_is_covered_here() -> None:
    assert {route.name for route in support.routes} == {name for name, _, _ in CASES}


@pytest.mark.parametrize(("handler", "inputs", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_route_calls_its_support_rpc(
    handler: str, inputs: dict[str, Any], expected: tuple[str, tuple[Any, ...]]
) -> None:
    rpc, arguments = expected
    proxy = SimpleNamespace(**{rpc: Method()})
    gateway = SimpleNamespace(support=proxy)
    assert getattr(support, handler)(gateway, REQUEST, **inputs) == ANSWER
    assert getattr(proxy, rpc).calls == [arguments]


def test_creations_answer_201_and_staff_routes_are_tagged_staff() -> None:
    created = {r.name for r in support.routes if r.status == 201}
    assert created == {"open_ticket", "reply", "post_staff_message"}
    for route in support.routes:
        staff_only = route.path.startswith("/v1/admin/")
        assert route.tags == (("staff",) if staff_only else ("support",)), route.name
        assert (route.access.kind == "staff") == staff_only, route.name
    assert [r for r in ROUTES if r.tags == ("support",)] == [
        r for r in support.routes if not r.path.startswith("/v1/admin/")
    ]
