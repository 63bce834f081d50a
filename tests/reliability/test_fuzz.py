"""Schemathesis against the live `/v1/openapi.json` (tests/fuzzing.py) as every kind of
caller: anonymous, the OWNER of an organization, its ADMIN, MEMBER and BILLING members,
staff, and an API key. Whatever is sent, the answer is never 5xx, every 4xx is JSON in the
one error shape, and every answer is one the document promises (status, media type, body
schema). Each run prints how many cases it sent.

How many cases each caller gets (`CVT_FUZZ_EXAMPLES`, default 10, per operation and kind of
input: valid, schema-breaking, hostile string):
- anonymous: public operations twice as many (they are open to anyone); the others a
  third (they all end at authentication), with made-up credentials of every kind;
- OWNER: every operation that is not public or for terminals only;
- ADMIN, MEMBER, BILLING: the organization's operations, where the role decides. A third
  for those the role may call (the OWNER's run already gave the handlers their input; these
  runs take the other roles through authorization), and a few valid cases for those it may
  not (403 whatever the input);
- staff: every operation that is not public, also with made-up ids (staff may name any
  organization's things);
- API key: the operations keys may call (terminal ones, usage) in full; a few valid cases
  for every other operation that is not public (403 for a key).

The runs keep off what other tests rely on:
- Every request leaves from 127.0.0.2, so the failed sign-ins it provokes count against
  that address, never against 127.0.0.1, where every other test signs in.
- The owner and members are throwaway people, and each operation gets a fresh organization
  (with an API key, an invitation, a leased service, a member of each role): deleting it,
  transferring it or demoting someone spoils only that operation's own organization.
- Operations that end the caller's session (sign-out, sign-out everywhere, password change)
  run for the owner as a throwaway person each; staff skip them, since the staff user is
  shared with later tests and nothing in them is staff's own; members get them through
  the OWNER's run (they are not an organization's operations).
- Billing settings that staff cases change are put back as they were.
"""

from __future__ import annotations

from typing import Any

import pytest
from schemathesis import GenerationMode

from tests.fuzzing import (
    AUTHENTICATION_EXAMPLES,
    EXAMPLES,
    KINDS,
    PUBLIC_EXAMPLES,
    SESSION_ENDING,
    Fuzzer,
    World,
    admits,
    assert_let_in,
    assert_no_findings,
    get,
    is_in_an_organization,
    is_public,
    is_staff_only,
    is_terminal_only,
    load_schema,
    path_params,
    tally,
    variant_of,
)
from tests.integration.conftest import STAFF_EMAIL, Person, Suite

pytestmark = pytest.mark.integration

ROLES = ("ADMIN", "MEMBER", "BILLING")
ROLE_EXAMPLES = max(2, EXAMPLES // 3)
# A refusal does not depend on the input: a few valid cases show it is a clean 403.
REFUSED_EXAMPLES = 2
VALID_ONLY = (GenerationMode.POSITIVE.value,)


@pytest.fixture(scope="module")
def world(suite: Suite) -> World:
    members = {role: suite.new_person() for role in ROLES}
    return World(suite, suite.new_person(), suite.sign_in(STAFF_EMAIL), members)


def report(fuzzer: Fuzzer, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(f"\n{tally(fuzzer)}")


def test_anonymous_callers_never_get_a_server_error(
    suite: Suite, capsys: pytest.CaptureFixture[str]
) -> None:
    fuzzer = Fuzzer(suite, "anonymous", load_schema(suite, generate_credentials=True))
    operations = fuzzer.operations()
    for operation in operations:
        examples = PUBLIC_EXAMPLES if is_public(operation) else AUTHENTICATION_EXAMPLES
        fuzzer.fuzz(operation, credentials={}, examples=examples)
    report(fuzzer, capsys)
    assert_no_findings(fuzzer)
    assert_let_in(fuzzer, [op for op in operations if is_public(op)])


def test_an_owner_never_gets_a_server_error(
    suite: Suite, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    fuzzer = Fuzzer(suite, "owner", load_schema(suite, generate_credentials=False))
    # Public operations answer everyone alike: the anonymous run covers them; terminals'
    # operations are the API key's.
    operations = [
        op for op in fuzzer.operations() if not is_public(op) and not is_terminal_only(op)
    ]
    for operation in operations:
        if operation.label in SESSION_ENDING:
            credentials = suite.new_person().auth
        else:
            credentials = world.owner.auth
        for path_values in world.path_values(operation):
            fuzzer.fuzz(operation, credentials, path_values, variant=variant_of(path_values))
    report(fuzzer, capsys)
    assert_no_findings(fuzzer)
    assert_let_in(fuzzer, [op for op in operations if not is_staff_only(op)])


def test_staff_never_get_a_server_error(
    suite: Suite, world: World, staff: Person, capsys: pytest.CaptureFixture[str]
) -> None:
    fuzzer = Fuzzer(suite, "staff", load_schema(suite, generate_credentials=False))
    operations = [
        op for op in fuzzer.operations() if not is_public(op) and op.label not in SESSION_ENDING
    ]
    saved_settings = billing_settings(suite, staff)
    try:
        for operation in operations:
            for path_values in world.path_values(operation):
                fuzzer.fuzz(operation, staff.auth, path_values, variant=variant_of(path_values))
            if path_params(operation):
                # Staff may name any organization, service or invoice: also ones that
                # do not exist, or could not.
                fuzzer.fuzz(
                    operation, staff.auth, kinds=(GenerationMode.POSITIVE.value,), variant="any ids"
                )
    finally:
        restore_billing_settings(suite, staff, saved_settings)
    report(fuzzer, capsys)
    assert_no_findings(fuzzer)
    assert_let_in(fuzzer, [op for op in operations if not is_terminal_only(op)])


def billing_settings(suite: Suite, staff: Person) -> dict[str, Any]:
    return get(suite, staff, "/v1/admin/billing-settings")


def restore_billing_settings(suite: Suite, staff: Person, saved: dict[str, Any]) -> None:
    """Back as they were: the values, and no price for an event type the run made up."""
    restored = suite.http("PATCH", "/v1/admin/billing-settings", json=saved, headers=staff.auth)
    assert restored.status_code == 200, restored.text
    suite.sql(
        "DELETE FROM billing.system_settings WHERE key LIKE 'price.%' AND NOT key = ANY(:kept)",
        kept=[f"price.{name}" for name in saved["prices"]],
    )
    assert billing_settings(suite, staff) == saved


@pytest.mark.parametrize("role", ROLES)
def test_members_of_every_role_never_get_a_server_error(
    suite: Suite, world: World, role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fuzzer = Fuzzer(suite, role.lower(), load_schema(suite, generate_credentials=False))
    operations = [op for op in fuzzer.operations() if is_in_an_organization(op)]
    member = world.members[role]
    for operation in operations:
        allowed = admits(operation, role)
        for path_values in world.path_values(operation):
            fuzzer.fuzz(
                operation,
                member.auth,
                path_values,
                examples=ROLE_EXAMPLES if allowed else REFUSED_EXAMPLES,
                kinds=KINDS if allowed else VALID_ONLY,
                variant=variant_of(path_values),
            )
    report(fuzzer, capsys)
    assert_no_findings(fuzzer)
    assert_let_in(fuzzer, [op for op in operations if admits(op, role)])


def test_an_api_key_never_gets_a_server_error(
    suite: Suite, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    fuzzer = Fuzzer(suite, "api-key", load_schema(suite, generate_credentials=False))
    operations = [op for op in fuzzer.operations() if not is_public(op)]
    _, own_key = world.api_key(suite.new_org(world.owner)["id"])
    for operation in operations:
        if not admits(operation, "API key"):
            # Refused for what the key is, before any path value is looked at.
            credentials = {"X-API-Key": own_key}
            fuzzer.fuzz(operation, credentials, examples=REFUSED_EXAMPLES, kinds=VALID_ONLY)
            continue
        for path_values in world.path_values(operation):
            # A key of the organization the path names: what a terminal of it would send.
            key = world.api_key(path_values["org_id"])[1] if "org_id" in path_values else own_key
            fuzzer.fuzz(operation, {"X-API-Key": key}, path_values, variant=variant_of(path_values))
    report(fuzzer, capsys)
    assert_no_findings(fuzzer)
    assert_let_in(fuzzer, [op for op in operations if admits(op, "API key")])
