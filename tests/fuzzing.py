"""Schemathesis against the live `/v1/openapi.json`, as used by the fuzz runs
(tests/reliability/test_fuzz.py) and the walk of successes
(tests/integration/test_api_fuzz.py).

Every answer is checked the same way: never 5xx, every 4xx JSON in the one error shape,
and every answer one the document promises: a status the operation lists, its media type,
and a body that validates against its schema (required fields present, null only where
nullable, no field it does not name), so a client generated from the document can read it.

Generated input is valid, schema-breaking, or valid with a hostile string planted (NUL, a
lone surrogate, CR/LF). Cases are seeded per caller, operation and kind, so every run
sends the same ones. Findings are collected rather than raised inside Hypothesis: nothing
is shrunk (each case is a round trip through the suite), and a failure reads as one line
per operation and fault, with the first input that caused it and the error the suite
logged for it.

Path parameters name real things (`World`: a fresh organization per operation with an API
key, an invitation, a membership for each role, a leased service, a ticket; an event type,
a sent email, a throwaway user), so cases reach the handlers rather than stop at a 404.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from itertools import count
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from requests.adapters import HTTPAdapter
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok

from gateway.access_table import ALLOWED, ANYONE, COLUMNS, rows
from ops.processes import COMPONENTS
from shared.waiting import wait_until
from tests.integration.conftest import PASSWORD, Person, Suite
from tests.integration.test_authorization import add_member

# Cases per operation, per way of calling it, per kind of input (see KINDS).
EXAMPLES = int(os.environ.get("CVT_FUZZ_EXAMPLES", "10"))
# Public operations are open to anyone: they get more. Anonymous cases for the others all
# end at authentication, which a few cases cover.
PUBLIC_EXAMPLES = 2 * EXAMPLES
AUTHENTICATION_EXAMPLES = max(2, EXAMPLES // 3)
# Only stops a hang: the gateway answers 503 itself when a service does not answer.
REQUEST_TIMEOUT_SECONDS = 120
FUZZ_SOURCE_ADDRESS = "127.0.0.2"
SESSION_ENDING = frozenset(
    {"POST /v1/auth/sign-out", "POST /v1/auth/sign-out-everywhere", "POST /v1/auth/password"}
)
# Valid input, schema-breaking input, and valid input with a hostile string planted.
HOSTILE = "hostile"
KINDS = (GenerationMode.POSITIVE.value, GenerationMode.NEGATIVE.value, HOSTILE)
HOSTILE_STRINGS = (
    "\x00",
    "a\x00b",  # PostgreSQL text cannot hold NUL
    "\ud800",
    "x\udfffy",  # lone surrogates: valid JSON escapes, no UTF-8 encoding
    "a\r\nBcc: x@example.com",  # header injection, for what ends up in an email
)
# A form body (Paynow's status post) is sent as UTF-8 bytes: a lone surrogate cannot be
# sent in one at all (percent-encoded garbage arrives as U+FFFD).
FORM_HOSTILE_STRINGS = tuple(s for s in HOSTILE_STRINGS if not re.search("[\ud800-\udfff]", s))
SERVICE_ACTIONS = ("suspend", "reactivate", "cancel")
NOT_LET_IN = frozenset({401, 403})
ERROR_KEYS = {"code", "message", "request_id", "fields"}
_LOG_LINE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_EXCEPTION_LINE = re.compile(r"^[\w.]+(Error|Exception|Violation|Fault|Timeout)\b.*")
_EXCEPTION_NAME = re.compile(r"\b(\w+(?:Error|Exception|Violation|Fault|Timeout))\b")


# What every answer is checked for


def one_error_shape(ctx: Any, response: schemathesis.Response, case: Case) -> None:
    """A 4xx is JSON: {"error": {"code", "message", "request_id"[, "fields"]}}, nothing else."""
    if not 400 <= response.status_code < 500:
        return
    content_type = (response.headers.get("content-type") or [""])[0]
    documented = case.operation.definition.raw["responses"].get(str(response.status_code), {})
    if content_type.startswith("text/html") and "text/html" in documented.get("content", {}):
        return  # a page route's refusal, as a page for the person reading it (the pay page)
    assert content_type.startswith("application/json"), f"4xx as {content_type or 'no type'}"
    try:
        body = response.json()
    except ValueError as exc:
        raise AssertionError(f"4xx body is not JSON: {response.content[:80]!r}") from exc
    assert isinstance(body, dict) and set(body) == {"error"}, f"not the error shape: {body!r:.200}"
    error = body["error"]
    assert isinstance(error, dict) and set(error) <= ERROR_KEYS, f"error holds {error!r:.200}"
    for key in ("code", "message", "request_id"):
        assert isinstance(error.get(key), str), f"error.{key} missing: {error!r:.200}"
    assert isinstance(error.get("fields", {}), dict), f"error.fields: {error!r:.200}"


CHECKS = [
    not_a_server_error,
    one_error_shape,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# Sending


class FromAddress(HTTPAdapter):
    """Connections that leave from a given loopback address."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def fuzz_http_session(address: str = FUZZ_SOURCE_ADDRESS) -> requests.Session:
    session = requests.Session()
    session.mount("http://", FromAddress(address))
    # A cookie one answer sets (a session, a device) must not carry over to the next case.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return session


def load_schema(suite: Suite, *, generate_credentials: bool) -> Any:
    """The schema as the gateway serves it. Anonymous cases make up credentials of every
    kind (the authentication layer gets fuzzed too); signed-in cases carry only ours."""
    config = schemathesis.Config.from_dict(
        {"generation": {"with-security-parameters": generate_credentials}}
    )
    return schemathesis.openapi.from_url(suite.url + "/v1/openapi.json", config=config, timeout=15)


@dataclass(frozen=True)
class Finding:
    caller: str
    operation: str
    problem: str
    request_id: str
    sent: str


@dataclass
class Fuzzer:
    """Sends generated cases for one operation after another and keeps what went wrong."""

    suite: Suite
    caller: str
    schema: Any
    http: requests.Session = field(default_factory=fuzz_http_session)
    findings: list[Finding] = field(default_factory=list)
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    sent: int = 0
    _ids: Iterator[int] = field(default_factory=count)

    def operations(self) -> list[APIOperation]:
        return [
            result.ok() for result in self.schema.get_all_operations() if isinstance(result, Ok)
        ]

    def fuzz(
        self,
        operation: APIOperation,
        credentials: dict[str, str],
        path_values: dict[str, str] | None = None,
        *,
        examples: int = EXAMPLES,
        kinds: tuple[str, ...] = KINDS,
        variant: str = "",
    ) -> None:
        for kind in kinds:
            if kind == HOSTILE and "requestBody" not in operation.definition.raw:
                continue
            strategy = cases_of(operation, kind, path_values)
            # Its own seed per caller, operation and kind: reproducible, and not the same
            # draws for every operation of a similar shape.
            seed = seed_of(self.caller, operation.label, kind, variant)
            try:
                run_examples(strategy, examples, seed, lambda case: self.send(case, credentials))
            except Unsatisfiable:
                # Nothing in the operation can be made invalid (no parameters, no body),
                # or its body holds no string.
                assert kind in (GenerationMode.NEGATIVE.value, HOSTILE), operation.label

    def send(self, case: Case, credentials: dict[str, str]) -> schemathesis.Response | None:
        """The answer, checked (None if there was none); what went wrong is noted."""
        request_id = f"fuzz-{self.caller}-{next(self._ids)}"
        self.sent += 1
        headers = {**credentials, "X-Request-Id": request_id}
        try:
            response = case.call(
                base_url=self.suite.url,
                session=self.http,
                headers=headers,
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            self.note(case, f"no answer: {type(exc).__name__}", request_id)
            return None
        self.answers[case.operation.label, response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                self.note(case, problem_of(failure, response.status_code), request_id)
        return response

    def note(self, case: Case, problem: str, request_id: str) -> None:
        self.findings.append(
            Finding(self.caller, case.operation.label, problem, request_id, describe(case))
        )


def cases_of(operation: APIOperation, kind: str, path_values: dict[str, str] | None) -> Any:
    if kind == HOSTILE:
        valid = operation.as_strategy(
            generation_mode=GenerationMode.POSITIVE, path_parameters=path_values
        )
        return with_a_hostile_string(valid)
    return operation.as_strategy(generation_mode=GenerationMode(kind), path_parameters=path_values)


def with_a_hostile_string(cases: Any) -> Any:
    """Valid cases with one string of the body replaced by one that has broken services
    before: schemathesis seldom draws a NUL, and never a lone surrogate."""

    @st.composite
    def hostile(draw: st.DrawFn) -> Case:
        case = draw(cases)
        form = case.media_type == "application/x-www-form-urlencoded"
        hostile_strings = FORM_HOSTILE_STRINGS if form else HOSTILE_STRINGS
        slots = string_slots(case.body)
        hypothesis.assume(slots)
        slot = draw(st.sampled_from(slots))
        # A case of our own making: schemathesis would re-check a generated one against
        # the schema, and its validator cannot read a lone surrogate.
        return case.operation.Case(
            path_parameters=case.path_parameters,
            headers=case.headers,
            cookies=case.cookies,
            query=case.query,
            body=replaced(case.body, slot, draw(st.sampled_from(hostile_strings))),
            media_type=case.media_type,
        )

    return hostile()


def string_slots(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Where strings are in a JSON value, as paths of keys and indexes."""
    if isinstance(value, str):
        return [path]
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return []
    return [slot for key, item in items for slot in string_slots(item, (*path, key))]


def replaced(value: Any, path: tuple[Any, ...], new: str) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, new)}
    return [
        replaced(item, rest, new) if index == head else item for index, item in enumerate(value)
    ]


def seed_of(*parts: str) -> int:
    return int.from_bytes(hashlib.blake2b(" ".join(parts).encode(), digest_size=8).digest())


def run_examples(strategy: Any, examples: int, seed: int, send: Callable[[Case], None]) -> None:
    """Bounded and reproducible: the same cases on every run, and no time limits."""

    @hypothesis.seed(seed)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=strategy)
    def each(case: Case) -> None:
        send(case)

    each()


def problem_of(failure: Exception, status: int) -> str:
    if getattr(failure, "status_code", None):
        return str(status)
    return f"{status} {getattr(failure, 'title', '')}: {getattr(failure, 'message', failure)}"


def describe(case: Case) -> str:
    parts = [case.formatted_path]
    if case.query:
        parts.append(f"query={case.query!r}")
    if case.body is not None and type(case.body).__name__ != "NotSet":
        parts.append(f"body={case.body!r}")
    return " ".join(parts)


# What went wrong, in a few lines


def cause_in_logs(logs: dict[str, list[str]], request_id: str) -> str:
    """The error a component logged for this request, and the exception it ended in."""
    marker = f"req={request_id}]"
    for component, lines in logs.items():
        for index, line in enumerate(lines):
            if marker in line and " ERROR " in line:
                message = line.split(": ", 1)[-1][:160]
                return f"{component}: {message}{exception_after(lines, index)}"
    return "(nothing logged at ERROR)"


def exception_after(lines: list[str], index: int) -> str:
    """The last line of the traceback printed under the log line at `index`, if any."""
    last = ""
    for line in lines[index + 1 :]:
        if _LOG_LINE.match(line):
            break
        if _EXCEPTION_LINE.match(line.strip()):
            last = line.strip()
    return f" | {last[:200]}" if last else ""


def kind_of(cause: str) -> str:
    """The exception a cause names (its message varies with the input), else the cause."""
    names = _EXCEPTION_NAME.findall(cause)
    return names[-1] if names else cause[:80]


def summary(findings: list[Finding], logs: dict[str, list[str]]) -> str:
    """One line per operation and fault: how often, why, and the first input that did it."""
    grouped: dict[tuple[str, str, str], list[Finding]] = {}
    for finding in findings:
        cause = cause_in_logs(logs, finding.request_id)
        key = (finding.operation, finding.problem.split(":")[0], kind_of(cause))
        grouped.setdefault(key, []).append(finding)
    lines = []
    for (operation, problem, _), group in sorted(grouped.items()):
        first = group[0]
        detail = f"\n      {first.problem[:300]}" if ":" in first.problem else ""
        lines.append(
            f"{problem} {operation} x{len(group)} req={first.request_id}: "
            f"{cause_in_logs(logs, first.request_id)}\n      sent: {first.sent[:300]}{detail}"
        )
    return "\n".join(lines)


def read_logs(suite: Suite) -> dict[str, list[str]]:
    return {component: suite.log_text(component).splitlines() for component in COMPONENTS}


def tally(fuzzer: Fuzzer) -> str:
    """How much a run sent, for the test output and docs/reliability.md."""
    operations = len({label for label, _ in fuzzer.answers})
    errors = sum(n for (_, status), n in fuzzer.answers.items() if status >= 500)
    return (
        f"fuzz {fuzzer.caller}: {fuzzer.sent} cases over {operations} operations, "
        f"{errors} 5xx, {len(fuzzer.findings)} findings"
    )


def assert_no_findings(fuzzer: Fuzzer) -> None:
    if fuzzer.findings:
        pytest.fail(
            f"{len(fuzzer.findings)} of {sum(fuzzer.answers.values())} cases sent as "
            f"{fuzzer.caller} went wrong:\n{summary(fuzzer.findings, read_logs(fuzzer.suite))}",
            pytrace=False,
        )


def assert_let_in(fuzzer: Fuzzer, operations: list[APIOperation]) -> None:
    """Cases reached the handlers, not only authentication: else the run proves little."""
    let_in = {label for label, status in fuzzer.answers if status not in NOT_LET_IN}
    kept_out = sorted({op.label for op in operations} - let_in)
    assert not kept_out, f"only 401/403 as {fuzzer.caller} for {kept_out}"


# Operations by who may call them


def is_public(operation: APIOperation) -> bool:
    return operation.definition.raw.get("security") == []


def is_terminal_only(operation: APIOperation) -> bool:
    return operation.definition.raw.get("security") == [{"apiKey": []}]


def is_staff_only(operation: APIOperation) -> bool:
    return operation.path.startswith("/v1/admin/")


def is_in_an_organization(operation: APIOperation) -> bool:
    """A member's operation: what it allows depends on the member's role."""
    return operation.path.startswith("/v1/organizations/{org_id}")


ACCESS = {row[0].strip("`"): dict(zip(COLUMNS, row[2:], strict=True)) for row in rows()}


def admits(operation: APIOperation, caller: str) -> bool:
    """Whether docs/authorization.md lets `caller` (one of its columns) call the operation."""
    cell = ACCESS[operation.label][caller]
    return cell in (ALLOWED, ANYONE) or cell.startswith("`")


def path_params(operation: APIOperation) -> set[str]:
    return {parameter.name for parameter in operation.path_parameters}


# Path parameters that name something of an organization (made for the operation).
IN_AN_ORGANIZATION = frozenset(
    {"org_id", "api_key_id", "invitation_id", "member_id", "service_id", "ticket_id"}
)


@dataclass
class World:
    """What an operation's path parameters name, made afresh for each operation so that
    what its cases do (delete, transfer, demote, revoke, cancel) spoils nothing else."""

    suite: Suite
    owner: Person
    staff: Person
    # People who join every organization made here, by role (ADMIN, MEMBER, BILLING).
    members: dict[str, Person] = field(default_factory=dict)
    _event_type: str = ""

    def path_values(self, operation: APIOperation) -> list[dict[str, str]]:
        """One set of values per run of the operation: `action` takes each of its words."""
        names = path_params(operation)
        values: dict[str, str] = {}
        if names & IN_AN_ORGANIZATION:
            values = self.organization_with(names)
        if "name" in names:
            values["name"] = self.event_type()
        if "user_id" in names:
            # A throwaway person: staff's cases disable and enable them.
            values["user_id"] = self.suite.new_person().user_id
        if "email_id" in names:
            values["email_id"] = self.sent_email()
        values = {name: value for name, value in values.items() if name in names}
        if "action" in names:
            return [{**values, "action": action} for action in SERVICE_ACTIONS]
        return [values]

    def organization_with(self, names: set[str]) -> dict[str, str]:
        org_id = self.suite.new_org(self.owner)["id"]
        for role, person in self.members.items():
            add_member(self.suite, org_id, person, role)
        values = {"org_id": org_id}
        if "api_key_id" in names:
            values["api_key_id"] = self.api_key(org_id)[0]
        if "invitation_id" in names:
            invitation = {"email": f"i-{uuid.uuid4().hex[:8]}@example.co.zw"}
            values["invitation_id"] = post(
                self.suite, self.owner, f"/v1/organizations/{org_id}/invitations", invitation
            )["id"]
        if "member_id" in names:
            # The OWNER's membership: what others' cases try to demote or remove.
            members = get(self.suite, self.owner, f"/v1/organizations/{org_id}/members")
            values["member_id"] = next(
                m["id"] for m in members["items"] if m["user_id"] == self.owner.user_id
            )
        if "service_id" in names:
            lease = {"type": "POS_TERMINAL", "name": "Till", "monthly_fee": 1500}
            values["service_id"] = post(
                self.suite, self.staff, f"/v1/admin/organizations/{org_id}/services", lease
            )["id"]
        if "ticket_id" in names:
            ticket = {"subject": "Fuzz", "description": "A ticket to act on"}
            values["ticket_id"] = post(
                self.suite, self.owner, f"/v1/organizations/{org_id}/tickets", ticket
            )["id"]
        return values

    def api_key(self, org_id: str) -> tuple[str, str]:
        """A key with every scope and room for every case under its rate limit."""
        body = {
            "name": "fuzz",
            "scopes": ["pos:read", "pos:write", "usage:read", "usage:write"],
            "rate_limit": 1_000_000,
        }
        created = post(self.suite, self.owner, f"/v1/organizations/{org_id}/api-keys", body)
        return created["id"], created["key"]

    def sent_email(self) -> str:
        """An email that went out without a link (a resend of a used link is refused): a
        throwaway person's, telling them someone signed up with their address."""
        address = self.suite.new_person().email
        again = {"email": address, "password": PASSWORD}
        assert self.suite.http("POST", "/v1/auth/sign-up", json=again).status_code == 202
        path = f"/v1/admin/emails?status=SENT&template=sign-up-attempted&recipient={address}"
        emails = wait_until(lambda: get(self.suite, self.staff, path)["items"], 30, "the email")
        return emails[0]["id"]

    def event_type(self) -> str:
        """One of our own, so that retiring it changes nothing other tests use."""
        if not self._event_type:
            self._event_type = f"fuzz.t{uuid.uuid4().hex[:8]}"
            body = {"name": self._event_type, "description": "fuzz"}
            post(self.suite, self.staff, "/v1/admin/event-types", body)
        return self._event_type


def variant_of(path_values: dict[str, str]) -> str:
    """What tells runs of one operation apart, ids aside (they change every run)."""
    return path_values.get("action", "")


def post(suite: Suite, person: Person, path: str, body: dict[str, Any]) -> Any:
    response = suite.http("POST", path, json=body, headers=person.auth)
    assert response.status_code == 201, response.text
    return response.json()


def get(suite: Suite, person: Person, path: str) -> Any:
    response = suite.http("GET", path, headers=person.auth)
    assert response.status_code == 200, response.text
    return response.json()
