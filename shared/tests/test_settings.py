"""Declared settings: values checked by type and bounds, defaults (from the environment
too, read when the value is), the staff listing, changes audited with old and new value."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import eventlet
import eventlet.event
import pytest
from sqlalchemy import delete, func, select, text

from shared import context
from shared.authorization import MemberRole
from shared.errors import Forbidden, Unauthorized, ValidationFailed
from shared.settings import CHANGED, RESET, Declared, Kind, ServiceSettings, dump
from shared.unit_of_work import UnitOfWork
from shared.waiting import wait_until

# A service's table the suite declares no settings in, with keys of the tests' own.
SERVICE = "metering"
LIMIT = "test.limit"
ENABLED = "test.enabled"
MODE = "test.mode"
CODE = "test.code"
TOKEN = "test.token"
FROM_ENV = "test.from_environment"
ENV = "CVT_TEST_SETTING_FROM_ENVIRONMENT"


def _env() -> str:
    return os.environ.get(ENV, "7")


DECLARED = ServiceSettings(
    SERVICE,
    [
        Declared(LIMIT, Kind.INTEGER, "A limit", "10", minimum=1, maximum=100),
        Declared(ENABLED, Kind.BOOLEAN, "A switch", "false"),
        Declared(MODE, Kind.STRING, "A mode", "fast", choices=("fast", "careful")),
        Declared(CODE, Kind.STRING, "A code", "A1", pattern=r"^[A-Z][0-9]$"),
        Declared(TOKEN, Kind.STRING, "A secret", "s3cret-default", secret=True),
        Declared(FROM_ENV, Kind.INTEGER, "From the environment", _env, environment=ENV),
    ],
)


@dataclass(frozen=True)
class Table:
    """`with table(SERVICE) as uow:`, and the audit rows a test wrote about a key."""

    unit_of_work: Callable[[str], AbstractContextManager[UnitOfWork]]
    audit_rows: Callable[[str], list[tuple[str, Any, str | None]]]

    def __call__(self, service: str) -> AbstractContextManager[UnitOfWork]:
        return self.unit_of_work(service)


@pytest.fixture
def table(unit_of_work: Any) -> Iterator[Table]:
    """The test keys removed before and after; `table.audit_rows(key)`: the audit rows
    this test wrote about the key."""
    with unit_of_work(SERVICE) as uow:
        start = uow.session.scalar(select(func.coalesce(func.max(uow.tables.audit_log.seq), 0)))

    def clear() -> None:
        with unit_of_work(SERVICE) as uow:
            model = uow.tables.system_setting
            uow.session.execute(delete(model).where(model.key.startswith("test.")))

    def audit_rows(key: str) -> list[tuple[str, Any, str | None]]:
        with unit_of_work(SERVICE) as uow:
            model = uow.tables.audit_log
            rows = uow.session.scalars(
                select(model)
                .where(model.entity_type == "SystemSetting", model.entity_id == key)
                .where(model.seq > start)
                .order_by(model.seq)
            ).all()
            return [(row.action, row.metadata_, row.actor_id) for row in rows]

    clear()
    yield Table(unit_of_work, audit_rows)
    clear()


@contextmanager
def anonymous() -> Iterator[None]:
    context.bind(context.CallContext(actor_type=context.ANONYMOUS))
    yield


def by_key(listing: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["key"]: item for item in listing["settings"]}


# --- checking values, no database ----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        (LIMIT, "5", "Not a valid integer."),
        (LIMIT, True, "Not a valid integer."),
        (LIMIT, 5.5, "Not a valid integer."),
        (LIMIT, 0, "Must be greater than or equal to 1 and less than or equal to 100."),
        (LIMIT, 101, "Must be greater than or equal to 1 and less than or equal to 100."),
        (ENABLED, 1, "Not a valid boolean: true or false."),
        (ENABLED, "true", "Not a valid boolean: true or false."),
        (MODE, "slow", "Must be one of: fast, careful."),
        (MODE, 3, "Not a valid string."),
        (CODE, "AA", "must match ^[A-Z][0-9]$"),
        (CODE, "", "Length must be between 1 and 500."),
    ],
)
def test_a_wrong_value_is_refused_naming_the_key_and_the_problem(
    key: str, value: Any, problem: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        DECLARED.validate({key: value})
    assert refused.value.status == 422
    assert list(refused.value.fields) == [key]
    assert refused.value.fields[key][0] == problem


def test_an_unknown_key_is_refused_naming_it() -> None:
    with pytest.raises(ValidationFailed) as refused:
        DECLARED.validate({"test.limits": 5, LIMIT: 5})
    assert refused.value.fields == {"test.limits": ["Unknown field."]}


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValidationFailed) as refused:
        DECLARED.validate([LIMIT, 5])
    assert refused.value.fields == {"_schema": ["not an object"]}


def test_good_values_come_back_typed_and_null_means_back_to_the_default() -> None:
    assert DECLARED.validate({LIMIT: 100, ENABLED: True, MODE: "careful", CODE: None}) == {
        LIMIT: 100,
        ENABLED: True,
        MODE: "careful",
        CODE: None,
    }


def test_a_bad_default_stops_the_start_naming_the_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV, "seven")
    with pytest.raises(ValueError, match=f"^{ENV}: 'seven': "):
        DECLARED.check_defaults()
    monkeypatch.setenv(ENV, "7")
    assert DECLARED.check_defaults() is DECLARED


def test_a_key_declared_twice_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        ServiceSettings(SERVICE, [Declared(LIMIT, Kind.INTEGER, "a", "1")] * 2)


def test_only_fixed_defaults_are_seeded() -> None:
    assert FROM_ENV not in DECLARED.fixed_defaults()
    assert DECLARED.fixed_defaults()[LIMIT] == "10"


# --- on a service's table ------------------------------------------------------------------


def test_staff_list_values_defaults_and_never_a_secret(table: Table, as_user: Any) -> None:
    with as_user(is_staff=True), table(SERVICE) as uow:
        listing = dump(DECLARED.listing(uow))
    assert listing["service"] == SERVICE
    assert [item["key"] for item in listing["settings"]] == [
        LIMIT,
        ENABLED,
        MODE,
        CODE,
        TOKEN,
        FROM_ENV,
    ]
    items = by_key(listing)
    assert items[LIMIT] | {"description": ""} == {
        "key": LIMIT,
        "type": "integer",
        "description": "",
        "value": 10,
        "default": 10,
        "environment": None,
        "minimum": 1,
        "maximum": 100,
        "choices": None,
        "pattern": None,
        "secret": False,
        "updated_at": None,
    }
    assert items[MODE]["choices"] == ["fast", "careful"]
    assert items[ENABLED]["value"] is False
    assert (items[TOKEN]["value"], items[TOKEN]["default"], items[TOKEN]["secret"]) == (
        None,
        None,
        True,
    )
    assert "s3cret" not in str(listing)


def test_a_default_from_the_environment_is_read_when_the_value_is(
    table: Table, as_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "8")
    with table(SERVICE) as uow:
        assert DECLARED.value(uow, FROM_ENV) == 8
    monkeypatch.setenv(ENV, "9")
    with table(SERVICE) as uow:
        assert DECLARED.value(uow, FROM_ENV) == 9
    with as_user(is_staff=True), table(SERVICE) as uow:
        DECLARED.change(uow, {FROM_ENV: 20})
    with table(SERVICE) as uow:
        assert DECLARED.value(uow, FROM_ENV) == 20  # staff's value overrides the environment
    with as_user(is_staff=True), table(SERVICE) as uow:
        item = by_key(DECLARED.change(uow, {FROM_ENV: None}))[FROM_ENV]
    assert (item["value"], item["default"], item["environment"]) == (9, 9, ENV)
    assert item["updated_at"] is None


def test_a_change_is_stored_typed_and_audited_with_old_and_new(table: Table, as_user: Any) -> None:
    with as_user(is_staff=True, actor_id="staff-1"), table(SERVICE) as uow:
        listing = DECLARED.change(uow, {LIMIT: 42, ENABLED: True})
    items = by_key(dump(listing))
    assert (items[LIMIT]["value"], items[LIMIT]["default"]) == (42, 10)
    assert items[ENABLED]["value"] is True
    assert items[LIMIT]["updated_at"] is not None
    assert items[MODE]["updated_at"] is None
    with table(SERVICE) as uow:
        model = uow.tables.system_setting
        stored = dict(uow.session.execute(select(model.key, model.value)).all())
        assert DECLARED.values(uow, [LIMIT, ENABLED]) == {LIMIT: 42, ENABLED: True}
    assert (stored[LIMIT], stored[ENABLED]) == ("42", "true")
    assert table.audit_rows(LIMIT) == [(CHANGED, {"key": LIMIT, "old": 10, "new": 42}, "staff-1")]
    assert table.audit_rows(ENABLED) == [
        (CHANGED, {"key": ENABLED, "old": False, "new": True}, "staff-1")
    ]


def test_setting_the_same_value_again_changes_and_audits_nothing(
    table: Table, as_user: Any
) -> None:
    for _ in range(2):
        with as_user(is_staff=True), table(SERVICE) as uow:
            DECLARED.change(uow, {MODE: "careful"})
    assert len(table.audit_rows(MODE)) == 1
    with as_user(is_staff=True), table(SERVICE) as uow:
        DECLARED.change(uow, {MODE: None})
    with as_user(is_staff=True), table(SERVICE) as uow:
        DECLARED.change(uow, {MODE: None})  # already the default: nothing to reset
    assert [action for action, *_ in table.audit_rows(MODE)] == [CHANGED, RESET]
    assert table.audit_rows(MODE)[1][1] == {"key": MODE, "old": "careful", "new": "fast"}


def test_a_refused_change_changes_nothing(table: Table, as_user: Any) -> None:
    with as_user(is_staff=True), pytest.raises(ValidationFailed), table(SERVICE) as uow:
        DECLARED.change(uow, {LIMIT: 50, MODE: "slow"})
    with table(SERVICE) as uow:
        assert DECLARED.value(uow, LIMIT) == 10
    assert table.audit_rows(LIMIT) == []


def test_a_secret_s_value_is_never_audited(table: Table, as_user: Any) -> None:
    with as_user(is_staff=True), table(SERVICE) as uow:
        DECLARED.change(uow, {TOKEN: "new-secret-value"})
    with table(SERVICE) as uow:
        assert DECLARED.value(uow, TOKEN) == "new-secret-value"
    assert table.audit_rows(TOKEN) == [(CHANGED, {"key": TOKEN}, "user-under-test")]


@pytest.mark.parametrize("caller", ["member", "owner", "anonymous"])
def test_only_staff_read_or_change_settings(table: Table, as_user: Any, caller: str) -> None:
    acting = {
        "member": lambda: as_user("org-1", MemberRole.MEMBER),
        "owner": lambda: as_user("org-1", MemberRole.OWNER),
        "anonymous": anonymous,
    }
    expected = Unauthorized if caller == "anonymous" else Forbidden
    for attempt in (
        lambda uow: DECLARED.listing(uow),
        lambda uow: DECLARED.change(uow, {LIMIT: 50}),
    ):
        with acting[caller](), pytest.raises(expected), table(SERVICE) as uow:
            attempt(uow)
    with table(SERVICE) as uow:
        assert DECLARED.value(uow, LIMIT) == 10


def test_a_stored_value_that_no_longer_reads_gives_the_default(table: Table) -> None:
    with table(SERVICE) as uow:
        uow.session.add(uow.tables.system_setting(key=LIMIT, value="lots"))
    with table(SERVICE) as uow:
        assert DECLARED.value(uow, LIMIT) == 10


def test_changes_take_turns_so_each_audit_row_s_old_value_is_the_last_new_one(
    table: Table, as_user: Any
) -> None:
    second_done = eventlet.event.Event()

    def second_change() -> None:
        with as_user(is_staff=True), table(SERVICE) as uow:
            DECLARED.change(uow, {LIMIT: 30})
        second_done.send(True)

    def second_is_waiting() -> bool:
        with table(SERVICE) as uow:
            waiting = uow.session.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                    "AND database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())"
                )
            )
        return bool(waiting)

    with as_user(is_staff=True), table(SERVICE) as uow:
        DECLARED.change(uow, {LIMIT: 20})
        eventlet.spawn(second_change)
        wait_until(second_is_waiting, 10, "the second change to wait for the first")
        assert not second_done.ready()
    assert second_done.wait(timeout=10)
    assert [row[1] for row in table.audit_rows(LIMIT)] == [
        {"key": LIMIT, "old": 10, "new": 20},
        {"key": LIMIT, "old": 20, "new": 30},
    ]
