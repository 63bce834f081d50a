"""The back office's routes hand each request to the RPC the contract names, with the path
values, body and query in order; the staff trail and an organization's trail ask every
service; and an organization shows its billing account only to those whose role may view
billing."""

from __future__ import annotations

import contextvars
from types import SimpleNamespace
from typing import Any

import pytest
from werkzeug.wrappers import Request

from gateway.routes import ROUTES, audit, auth, billing, emails, organizations, staff
from shared import config, context

REQUEST = Request.from_values("/")
ANSWER = {"id": "x1"}
BODY = {"name": "Till 2"}
QUERY = {"limit": "10", "status": "SENT"}


class Method:
    """An RPC proxy method that answers `answer` and keeps what it was called with."""

    def __init__(self, answer: Any = ANSWER) -> None:
        self.answer = answer
        self.calls: list[tuple[Any, ...]] = []

    def call_async(self, *args: Any) -> Any:
        self.calls.append(args)
        return SimpleNamespace(result=lambda: self.answer)


# Each route's module and handler, what it is called with, and the service, RPC and
# arguments it must send.
CASES = [
    (auth, "update_me", {"body": BODY}, ("identity", "update_me", (BODY,))),
    (staff, "disable_user", {"user_id": "u"}, ("identity", "disable_user", ("u",))),
    (staff, "enable_user", {"user_id": "u"}, ("identity", "enable_user", ("u",))),
    (emails, "list_emails", {"query": QUERY}, ("notifications", "list_emails", (QUERY,))),
    (emails, "get_email", {"email_id": "e"}, ("notifications", "get_email", ("e",))),
    (staff, "list_all_invoices", {"query": QUERY}, ("billing", "list_all_invoices", (QUERY,))),
    (staff, "list_all_services", {"query": QUERY}, ("billing", "list_all_services", (QUERY,))),
    (staff, "get_any_service", {"service_id": "s"}, ("billing", "get_any_service", ("s",))),
    (
        billing,
        "update_service",
        {"service_id": "s", "body": BODY},
        ("billing", "change_service", ("s", "update", BODY)),
    ),
    (
        billing,
        "account_ledger",
        {"org_id": "o", "query": QUERY},
        ("billing", "account_ledger", ("o", QUERY)),
    ),
    (
        billing,
        "any_account_ledger",
        {"org_id": "o", "query": QUERY},
        ("billing", "account_ledger", ("o", QUERY)),
    ),
    (
        billing,
        "update_billing_account",
        {"org_id": "o", "body": BODY},
        ("billing", "update_account", ("o", BODY)),
    ),
    (emails, "resend_email", {"email_id": "e"}, ("notifications", "resend_email", ("e",))),
]


@pytest.mark.parametrize(
    ("module", "handler", "inputs", "expected"), CASES, ids=[c[1] for c in CASES]
)
def test_each_route_calls_its_rpc(
    module: Any, handler: str, inputs: dict[str, Any], expected: tuple[str, str, tuple]
) -> None:
    service, rpc, arguments = expected
    proxy = SimpleNamespace(**{rpc: Method()})
    gateway = SimpleNamespace(**{service: proxy})
    assert getattr(module, handler)(gateway, REQUEST, **inputs) == ANSWER
    assert getattr(proxy, rpc).calls == [arguments]


def test_staff_routes_are_staff_only_and_tagged_staff() -> None:
    for route in ROUTES:
        if route.path.startswith("/v1/admin/"):
            assert route.access.kind == "staff", route.name
            assert route.tags == ("staff",), route.name
    assert {r.name for r in emails.routes if r.status == 201} == {"resend_email"}


def trail_gateway() -> SimpleNamespace:
    page = {"items": [], "total": 2, "limit": 10, "offset": 0}
    return SimpleNamespace(
        **{name: SimpleNamespace(audit_trail=Method(page)) for name in config.SERVICES}
    )


def test_the_staff_trail_asks_every_service_with_the_filters_sent() -> None:
    gateway = trail_gateway()
    page = audit.audit_trail(gateway, REQUEST, query={"limit": "10", "action": "user.disabled"})
    assert (page["total"], page["limit"], page["offset"]) == (2 * len(config.SERVICES), 10, 0)
    for name in config.SERVICES:
        assert getattr(gateway, name).audit_trail.calls == [
            ({"action": "user.disabled", "limit": 10, "offset": 0},)
        ]


def test_an_organization_s_trail_is_that_organization_s_in_every_service() -> None:
    gateway = trail_gateway()
    audit.organization_audit_trail(gateway, REQUEST, org_id="o1", query={"offset": "2"})
    for name in config.SERVICES:
        [(query,)] = getattr(gateway, name).audit_trail.calls
        assert query == {"organization_id": "o1", "limit": 52, "offset": 0}


@pytest.mark.parametrize(
    ("role", "shown"),
    [("OWNER", True), ("ADMIN", True), ("BILLING", True), ("MEMBER", False), (None, True)],
)
def test_an_organization_shows_its_billing_account_to_those_who_may_view_billing(
    role: str | None, shown: bool
) -> None:
    account = {"id": "ba1", "balance": -500}
    gateway = SimpleNamespace(
        identity=SimpleNamespace(get_organization=Method({"id": "o1", "name": "Org"})),
        billing=SimpleNamespace(get_billing_account=Method(account)),
    )
    caller = context.CallContext(
        actor_type=context.USER, actor_id="u1", organization_id="o1", role=role,
        is_staff=role is None,
    )  # fmt: skip
    answer = contextvars.copy_context().run(answered_as, caller, gateway)
    assert answer["billing_account"] == (account if shown else None)
    assert gateway.billing.get_billing_account.calls == ([("o1",)] if shown else [])


def answered_as(caller: context.CallContext, gateway: Any) -> dict[str, Any]:
    context.bind(caller)  # in a copied context: no other test sees it
    return organizations.get_organization(gateway, REQUEST, org_id="o1")
