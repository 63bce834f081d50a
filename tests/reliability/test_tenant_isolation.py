"""Tenant isolation, generated from the gateway's route declarations (`gateway.routes.ROUTES`),
so that a route is checked from the day it is declared, or the first test here fails.

Two organizations, *mine* and *theirs*, each with one thing of every kind a request can name
(a member, an invitation, an API key, a leased service, an invoice with a payment link, a
payment of it, a ticket). Mine's OWNER, mine's API key or mine's payment link names
theirs' things:

- in the path: theirs' organization (every organization route), or mine's organization with
  theirs' member, invitation, key, invoice, payment or ticket beneath it → 404;
- in the body (ownership to theirs' member, a ticket about theirs' invoice) → 404;
- in a query filter (payments of theirs' invoice, the audit trail of theirs' owner) → 404,
  or an answer that holds nothing of theirs;
and no answer holds anything of theirs (ids, name, owner's address) but what was sent.

Every route that is not public refuses missing and dead credentials with 401: none, a
signed-out or an expired session (routes that take sessions), a revoked or an expired key.

Not here: the role table (403 for roles, staff and keys a route does not admit), which
tests/integration/test_authorization.py walks from docs/authorization.md. Staff's routes
take any organization's things by design, so they have no isolation case (everyone else
gets 403 there); nor do the payment-link routes whose only path value is the token, since
the token is the authority.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from marshmallow import Schema, fields

from gateway.routes import ROUTES
from gateway.routing import Route
from shared.ids import cuid
from shared.tokens import new_secret, secret_hash
from shared.waiting import wait_until
from tests.integration.conftest import STAFF_EMAIL, Person, Suite
from tests.integration.test_authorization import (
    add_member,
    card_payment,
    created_id,
    finalized_invoice,
    ticket,
)

pytestmark = pytest.mark.integration

# Names in a path, body or query that name a thing of an organization.
THING_NAMES = frozenset(
    {
        "org_id",
        "member_id",
        "invitation_id",
        "api_key_id",
        "service_id",
        "invoice_id",
        "payment_id",
        "ticket_id",
        "actor_id",
        "entity_id",
    }
)
# Names that name nothing of an organization: a secret that is itself the authority (a
# payment link, an emailed token), a request id.
NOT_THINGS = frozenset({"token", "request_id"})
ALL_SCOPES = ["pos:read", "pos:write", "usage:read", "usage:write"]
# Bodies that pass validation, so that a case reaches the handler that looks the thing up.
VALID_BODIES: dict[str, dict[str, Any]] = {
    "PATCH /v1/organizations/{org_id}/members/{member_id}": {"role": "BILLING"},
    "POST /v1/organizations/{org_id}/invoices/{invoice_id}/payments": {"method": "visa"},
    "POST /v1/organizations/{org_id}/tickets/{ticket_id}/messages": {"message": "Hello?"},
    "POST /v1/organizations/{org_id}/tickets": {"subject": "Whose?", "description": "Theirs."},
}


def endpoint_of(route: Route) -> str:
    return f"{route.method} {route.template}"


def field_names(schema: Schema) -> Iterator[str]:
    """Every field name a body or query may carry, nested ones and alternatives included."""
    for alternative in getattr(schema, "one_of", ()):
        yield from field_names(alternative())
    for name, declared in schema.fields.items():
        yield declared.data_key or name
        inner = declared.inner if isinstance(declared, fields.List) else declared
        if isinstance(inner, fields.Nested):
            yield from field_names(inner.schema)


def required_fields(schema: Schema) -> set[str]:
    return {f.data_key or name for name, f in schema.fields.items() if f.required}


def named_in(route: Route) -> dict[str, set[str]]:
    """What the route names, by where: path, body, query."""
    return {
        "path": set(route.path_params),
        "body": set(field_names(route.request())) if route.request else set(),
        "query": set(field_names(route.query())) if route.query else set(),
    }


def ids_named(route: Route) -> set[str]:
    return {
        name
        for names in named_in(route).values()
        for name in names
        if name.endswith("_id") or name in NOT_THINGS
    }


def reason_without_case(route: Route) -> str | None:
    """Why a route has no isolation case, or None if it must have one."""
    if route.access.kind == "staff":
        return "staff may name any organization's things; others get 403 (role table)"
    if not ids_named(route) & THING_NAMES:
        if "token" in ids_named(route):
            return "the token (a payment link, an emailed token) is itself the authority"
        return "names nothing of an organization"
    return None


@dataclass(frozen=True)
class Tenant:
    """An organization and one thing of each kind in it."""

    owner: Person
    org_id: str
    name: str
    member_id: str
    invitation_id: str
    api_key_id: str
    api_key: str
    service_id: str
    invoice_id: str
    payment_token: str
    payment_id: str
    ticket_id: str

    def thing(self, name: str) -> str:
        aliases = {"actor_id": self.owner.user_id, "entity_id": self.org_id}
        return aliases.get(name) or getattr(self, name)

    def marks(self) -> set[str]:
        """What must never show in an answer to anyone else."""
        things = {self.thing(name) for name in THING_NAMES}
        return things | {self.name, self.owner.email, self.api_key, self.payment_token}

    @classmethod
    def made_up(cls, label: str) -> Tenant:
        """Ids that name nothing: enough to generate the cases without a suite."""
        person = Person(f"{label}@example.co.zw", "session", cuid())
        ids = {name: f"{label}-{name}" for name in cls.__dataclass_fields__}
        return cls(**(ids | {"owner": person}))


@dataclass(frozen=True)
class Case:
    what: str
    method: str
    path: str
    headers: dict[str, str]
    sent: frozenset[str]
    body: dict[str, Any] | None = None
    query: dict[str, str] = field(default_factory=dict)
    # A filter may answer an empty list instead of 404: it shows nothing either way.
    filter_only: bool = False


class BodyMissing(Exception):
    """A case needs a valid body for its route and VALID_BODIES has none."""


def valid_body(route: Route, sent_fields: frozenset[str] = frozenset()) -> dict[str, Any] | None:
    if route.request is None:
        return None
    body = VALID_BODIES.get(endpoint_of(route), {})
    missing = required_fields(route.request()) - set(body) - sent_fields
    if missing:
        raise BodyMissing(f"{endpoint_of(route)} needs {sorted(missing)} in VALID_BODIES")
    return dict(body)


def path_with(route: Route, values: dict[str, str]) -> str:
    path = route.template
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def isolation_cases(route: Route, mine: Tenant, theirs: Tenant) -> list[Case]:
    """Requests by mine's OWNER (or mine's key, or mine's payment link) naming theirs'
    things, one thing at a time; mine's own things fill the rest."""
    if reason_without_case(route) is not None:
        return []
    named = named_in(route)
    unknown = {name for name in ids_named(route) if name not in THING_NAMES | NOT_THINGS}
    assert not unknown, f"{endpoint_of(route)}: add {sorted(unknown)} to THING_NAMES"
    own_path = {name: mine.thing(name) for name in named["path"] if name in THING_NAMES}
    if "token" in named["path"]:
        own_path["token"] = mine.payment_token
    caller = {
        "public": {},
        "terminal": {"X-API-Key": mine.api_key},
    }.get(route.access.kind, mine.owner.auth)
    cases = []

    def case(what: str, path: dict[str, str], sent: set[str], **inputs: Any) -> None:
        if "body" not in inputs:
            inputs["body"] = valid_body(route)
        headers = inputs.pop("headers", caller)
        method, url = route.method, path_with(route, path)
        cases.append(Case(what, method, url, headers, frozenset(sent), **inputs))

    path_things = named["path"] & THING_NAMES
    if "org_id" in path_things:
        theirs_path = {name: theirs.thing(name) for name in path_things}
        sent = set(theirs_path.values())
        case("theirs' organization", theirs_path, sent, body=VALID_BODIES.get(endpoint_of(route)))
        if route.access.takes_api_key:
            key = {"X-API-Key": mine.api_key}
            case("theirs' organization, by mine's key", theirs_path, sent, headers=key, body=None)
    for name in sorted(path_things - {"org_id"}):
        case(f"theirs' {name} in mine", own_path | {name: theirs.thing(name)}, {theirs.thing(name)})
    for name in sorted(named["body"] & THING_NAMES):
        body = (valid_body(route, frozenset({name})) or {}) | {name: theirs.thing(name)}
        case(f"theirs' {name} in the body", own_path, {theirs.thing(name)}, body=body)
    for name in sorted(named["query"] & THING_NAMES):
        query = {name: theirs.thing(name)}
        case(f"theirs' {name} as a filter", own_path, {theirs.thing(name)}, query=query,
             filter_only=True)  # fmt: skip
    return cases


def problem_with(case: Case, status: int, text: str, theirs: Tenant) -> str | None:
    leaked = sorted(mark for mark in theirs.marks() - case.sent if mark in text)
    if leaked:
        return f"{status} shows theirs' {leaked}"
    if status == 404 or (case.filter_only and status == 200):
        return None
    return f"{status}, expected 404: {text[:200]}"


# Generated from the routes; checked without a suite


def test_every_route_naming_an_organization_s_things_has_isolation_cases() -> None:
    mine, theirs = Tenant.made_up("mine"), Tenant.made_up("theirs")
    without = []
    for route in ROUTES:
        try:
            cases = isolation_cases(route, mine, theirs)
        except (AssertionError, BodyMissing) as missing:
            without.append(str(missing))
            continue
        if not cases and reason_without_case(route) is None:
            without.append(f"{endpoint_of(route)}: no case and no reason")
        without += [f"{endpoint_of(route)}: {case.what} sends nothing of theirs"
                    for case in cases if not case.sent]  # fmt: skip
    assert without == []


def test_a_route_naming_an_unknown_thing_is_caught() -> None:
    mine, theirs = Tenant.made_up("mine"), Tenant.made_up("theirs")
    tickets = next(r for r in ROUTES if r.template == "/v1/organizations/{org_id}/tickets")
    widgets = replace(tickets, path="/v1/organizations/<org_id>/widgets/<widget_id>")
    with pytest.raises(AssertionError, match="widget_id"):
        isolation_cases(widgets, mine, theirs)


def test_the_cases_name_one_of_theirs_things_at_a_time() -> None:
    mine, theirs = Tenant.made_up("mine"), Tenant.made_up("theirs")
    route = next(r for r in ROUTES if r.template.endswith("/tickets/{ticket_id}/messages"))
    cases = isolation_cases(route, mine, theirs)
    assert [(c.what, c.path.split("/")[3:6]) for c in cases] == [
        ("theirs' organization", ["theirs-org_id", "tickets", "theirs-ticket_id"]),
        ("theirs' ticket_id in mine", ["mine-org_id", "tickets", "theirs-ticket_id"]),
    ]
    staff_route = next(r for r in ROUTES if r.access.kind == "staff" and r.path_params)
    assert isolation_cases(staff_route, mine, theirs) == []


def test_only_404_or_an_empty_filter_passes_and_nothing_of_theirs_may_show() -> None:
    mine, theirs = Tenant.made_up("mine"), Tenant.made_up("theirs")
    route = next(r for r in ROUTES if r.template == "/v1/organizations/{org_id}/payments")
    by_org, by_filter = isolation_cases(route, mine, theirs)
    assert problem_with(by_org, 404, '{"error": {"code": "not_found"}}', theirs) is None
    assert problem_with(by_org, 403, "{}", theirs) is not None
    assert problem_with(by_org, 200, '{"items": []}', theirs) is not None
    assert problem_with(by_filter, 200, '{"items": []}', theirs) is None
    leak = '{"items": [{"id": "theirs-payment_id"}]}'
    assert "theirs-payment_id" in (problem_with(by_filter, 200, leak, theirs) or "")


# Against the running suite


def new_tenant(suite: Suite, staff: Person) -> Tenant:
    owner = suite.new_person()
    org = suite.new_org(owner)
    org_id = org["id"]
    member_id = add_member(suite, org_id, suite.new_person(), "MEMBER")
    invitation = {"email": f"i-{uuid.uuid4().hex[:8]}@example.co.zw"}
    invitation_id = created_id(suite, owner, f"/v1/organizations/{org_id}/invitations", invitation)
    made = suite.http(
        "POST", f"/v1/organizations/{org_id}/api-keys", headers=owner.auth,
        json={"name": "isolation", "scopes": ALL_SCOPES},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    lease = {"type": "POS_TERMINAL", "name": "Till", "monthly_fee": 1000}
    service_id = created_id(suite, staff, f"/v1/admin/organizations/{org_id}/services", lease)
    payment_token = new_secret()
    invoice_id = finalized_invoice(suite, org_id, payment_token=payment_token)
    return Tenant(
        owner=owner,
        org_id=org_id,
        name=org["name"],
        member_id=member_id,
        invitation_id=invitation_id,
        api_key_id=made.json()["id"],
        api_key=made.json()["key"],
        service_id=service_id,
        invoice_id=invoice_id,
        payment_token=payment_token,
        payment_id=card_payment(suite, owner, org_id, invoice_id),
        ticket_id=ticket(suite, owner, org_id),
    )


@dataclass(frozen=True)
class Tenants:
    mine: Tenant
    theirs: Tenant


@pytest.fixture(scope="module")
def tenants(suite: Suite) -> Tenants:
    staff = suite.sign_in(STAFF_EMAIL)
    return Tenants(new_tenant(suite, staff), new_tenant(suite, staff))


ISOLATED = sorted(endpoint_of(r) for r in ROUTES if reason_without_case(r) is None)
ROUTE_BY_ENDPOINT = {endpoint_of(r): r for r in ROUTES}


@pytest.mark.parametrize("endpoint", ISOLATED)
def test_another_organization_s_things_are_not_found(
    suite: Suite, tenants: Tenants, endpoint: str
) -> None:
    mine, theirs = tenants.mine, tenants.theirs
    problems = []
    for case in isolation_cases(ROUTE_BY_ENDPOINT[endpoint], mine, theirs):
        response = suite.http(
            case.method, case.path, headers=case.headers, json=case.body, params=case.query
        )
        problem = problem_with(case, response.status_code, response.text, theirs)
        if problem:
            problems.append(f"{case.what} ({case.method} {case.path}): {problem}")
    assert problems == []


# Missing and dead credentials


@pytest.fixture(scope="module")
def dead_credentials(suite: Suite, tenants: Tenants) -> dict[str, dict[str, str]]:
    """Credentials that once worked (for mine's OWNER and organization), now ended."""
    mine = tenants.mine
    signed_out = suite.sign_in(mine.owner.email)
    assert suite.http("POST", "/v1/auth/sign-out", headers=signed_out.auth).status_code == 200
    expired = suite.sign_in(mine.owner.email)
    suite.sql(
        "UPDATE identity.sessions SET expires_at = now() - interval '1 second' "
        "WHERE token_hash = :h",
        h=secret_hash(expired.session),
    )
    revoked_id, revoked = new_key(suite, mine)
    whoami = {"X-API-Key": revoked}
    assert suite.http("GET", "/v1/terminal/whoami", headers=whoami).status_code == 200
    path = f"/v1/organizations/{mine.org_id}/api-keys/{revoked_id}"
    assert suite.http("DELETE", path, headers=mine.owner.auth).status_code in (200, 204)
    wait_until(
        lambda: suite.http("GET", "/v1/terminal/whoami", headers=whoami).status_code == 401,
        20,
        "the gateway to drop the revoked key",
    )
    _, expired_key = new_key(suite, mine)
    suite.sql(
        "UPDATE identity.api_keys SET expires_at = now() - interval '1 minute' WHERE key_hash = :h",
        h=secret_hash(expired_key),
    )
    return {
        "no credentials": {},
        "a signed-out session": signed_out.auth,
        "an expired session": expired.auth,
        "a revoked key": {"X-API-Key": revoked},
        "an expired key": {"X-API-Key": expired_key},
    }


def new_key(suite: Suite, tenant: Tenant) -> tuple[str, str]:
    made = suite.http(
        "POST", f"/v1/organizations/{tenant.org_id}/api-keys", headers=tenant.owner.auth,
        json={"name": "dead", "scopes": ALL_SCOPES},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    return made.json()["id"], made.json()["key"]


NOT_PUBLIC = sorted(endpoint_of(r) for r in ROUTES if r.access.kind != "public")


@pytest.mark.parametrize("endpoint", NOT_PUBLIC)
def test_missing_and_dead_credentials_get_401(
    suite: Suite, tenants: Tenants, dead_credentials: dict[str, dict[str, str]], endpoint: str
) -> None:
    route = ROUTE_BY_ENDPOINT[endpoint]
    # Mine's own things, so that nothing but the credentials can be refused.
    values = {n: mine_or_made_up(route, tenants.mine, n) for n in route.path_params}
    path = path_with(route, values)
    refused = {}
    for label, headers in dead_credentials.items():
        if "session" in label and not route.access.takes_session:
            continue  # terminal routes refuse any session with 403 (role table)
        status = suite.http(route.method, path, headers=headers).status_code
        if status != 401:
            refused[label] = status
    assert refused == {}, f"{endpoint} ({path}): not 401"


def mine_or_made_up(route: Route, mine: Tenant, name: str) -> str:
    """Mine's thing, or a value the route's path takes (its first word where the path
    allows only some), so that the route is found."""
    if name in THING_NAMES:
        return mine.thing(name)
    words = re.search(rf"<any\(([^)]*)\):{name}>", route.path)
    if words:
        return words.group(1).split(",")[0].strip()
    return cuid()
