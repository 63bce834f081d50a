"""Event contracts: the one way to declare what an event carries.

    @dataclass(frozen=True, kw_only=True)
    class InvoicePaid(Event):
        source = "billing"
        event_type = "invoice.paid"

        invoice_id: str
        amount_paid: Cents

Each service declares the events it publishes in `services/<name>/events.py`, which imports
nothing but this module, so every consumer (the gateway too) can import the contracts
without importing the service. The publisher hands an instance to its unit of work
(`uow.emit(InvoicePaid(...))`); a handler names the contract it reads
(`@event_handler(InvoicePaid)`, `shared.entrypoints`) and gets an instance. A contract's
docstring says when the event happens; `docs/events.md` is generated from the contracts
(`python -m shared.event_catalogue`).

Every payload carries `event_id` (the outbox row id, for deduplication), `occurred_at` and
`version` besides the contract's fields. A payload that does not fit its contract exactly
(a field missing, unknown or of the wrong type, or a version this code does not read) is
refused with `ValidationFailed` naming the fields: no retry can mend it, so a consumer parks
it at once. An event built in code with a value of the wrong type is a bug in the publisher:
`TypeError` at once, in the publisher's own tests.

Field types: `str`, `int`, `bool`, `Cents`, `Timestamp`, `dict[str, <type>]`, and
`<type> | None` (give it a default to make the field optional in payloads).
"""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, ClassVar, Self, Union, get_args, get_origin, get_type_hints

from shared.clock import utcnow
from shared.errors import ValidationFailed
from shared.ids import cuid


@dataclass(frozen=True)
class Meaning:
    """What an `Annotated` field type means beyond its Python type: its name in
    docs/events.md, and what is wrong with a value (None if nothing)."""

    name: str
    problem: Callable[[Any], str | None] = lambda value: None


def _not_a_timestamp(value: str) -> str | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return "expected an ISO-8601 datetime"
    return None if parsed.tzinfo is not None else "expected a UTC offset"


Cents = Annotated[int, Meaning("integer (US cents)")]
Timestamp = Annotated[str, Meaning("ISO-8601 datetime with offset", _not_a_timestamp)]

ENVELOPE = ("event_id", "occurred_at", "version")
# Each plain type: its name in docs/events.md, and what a value of another type is told.
_PLAIN = {
    str: ("string", "expected a string"),
    int: ("integer", "expected an integer"),
    bool: ("boolean", "expected true or false"),
}


def _now() -> str:
    return utcnow().isoformat()


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every contract. A contract sets `source` (the publishing service: the
    exchange is `<source>.events`), `event_type` (the routing key) and, when its fields
    change incompatibly, a new `version`."""

    source: ClassVar[str]
    event_type: ClassVar[str]
    version: ClassVar[int] = 1

    # Set when the event is made: it is the outbox row id, and the moment it happened.
    event_id: str = field(default_factory=cuid)
    occurred_at: Timestamp = field(default_factory=_now)

    def __post_init__(self) -> None:
        problems = _type_problems(type(self), vars(self))
        if problems:
            raise TypeError(f"{self.event_type} event does not meet its contract: {problems}")

    def to_payload(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "version": self.version}

    @classmethod
    def from_payload(cls, payload: Any) -> Self:
        """The event a message body holds, or ValidationFailed naming what is wrong."""
        if not isinstance(payload, dict):
            raise _malformed(cls, {"_schema": ["expected a JSON object"]})
        if "version" not in payload:
            raise _malformed(cls, {"version": ["missing"]})
        version = payload["version"]
        if type(version) is not int or version != cls.version:
            raise _malformed(cls, {"version": [f"unknown version; this code reads {cls.version}"]})
        values = {name: value for name, value in payload.items() if name != "version"}
        declared = {f.name for f in dataclasses.fields(cls)}
        problems: dict[str, list[str]] = {
            name: ["unknown field"] for name in values if name not in declared
        }
        problems |= {name: ["missing"] for name in required_fields(cls) if name not in values}
        problems |= _type_problems(cls, {k: v for k, v in values.items() if k in declared})
        if problems:
            raise _malformed(cls, problems)
        return cls(**values)


def _malformed(contract: type[Event], problems: dict[str, list[str]]) -> ValidationFailed:
    return ValidationFailed(
        f"the {contract.event_type} event does not meet its contract "
        f"(v{contract.version}, {contract.__name__})",
        problems,
    )


def required_fields(contract: type[Event]) -> list[str]:
    """Fields every payload must have: the envelope's, and those without a default."""
    return [
        f.name
        for f in dataclasses.fields(contract)
        if f.name in ENVELOPE
        or (f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
    ]


@functools.cache
def field_types(contract: type[Event]) -> dict[str, Any]:
    """Each field's declared type, in declaration order (envelope first)."""
    if "__dataclass_fields__" not in vars(contract):
        raise TypeError(f"{contract.__name__} needs @dataclass(frozen=True, kw_only=True)")
    hints = get_type_hints(contract, include_extras=True)
    return {f.name: hints[f.name] for f in dataclasses.fields(contract)}


def _type_problems(contract: type[Event], values: dict[str, Any]) -> dict[str, list[str]]:
    types_ = field_types(contract)
    problems = {name: _problem(types_[name], value) for name, value in values.items()}
    return {name: [text] for name, text in problems.items() if text is not None}


def _optional_of(hint: Any) -> Any | None:
    """`T` for `T | None`, else None."""
    if get_origin(hint) not in (Union, types.UnionType):
        return None
    others = [arg for arg in get_args(hint) if arg is not type(None)]
    if len(others) != 1 or len(get_args(hint)) != 2:
        raise TypeError(f"unsupported event field type {hint!r}: only `T | None` unions")
    return others[0]


def _meaning(hint: Any) -> tuple[Any, Meaning]:
    """The Python type and the `Meaning` of an `Annotated` field type."""
    base, *extras = get_args(hint)
    meanings = [extra for extra in extras if isinstance(extra, Meaning)]
    if len(meanings) != 1:
        raise TypeError(f"unsupported event field type {hint!r}: one Meaning, please")
    return base, meanings[0]


def _problem(hint: Any, value: Any) -> str | None:
    """What is wrong with `value` as a `hint`, or None. Types are exact, as JSON gives them:
    an enum member or a bool is not a string or an integer."""
    if (inner := _optional_of(hint)) is not None:
        return None if value is None else _problem(inner, value)
    if get_origin(hint) is Annotated:
        base, meaning = _meaning(hint)
        return _problem(base, value) or meaning.problem(value)
    if get_origin(hint) is dict:
        key_type, item_type = get_args(hint)
        if key_type is not str:
            raise TypeError(f"unsupported event field type {hint!r}: keys are strings")
        if type(value) is not dict:
            return "expected an object"
        for key, item in value.items():
            if (text := _problem(item_type, item)) is not None:
                return f"{key}: {text}"
        return None
    if hint not in _PLAIN:
        raise TypeError(f"unsupported event field type {hint!r}")
    return None if type(value) is hint else _PLAIN[hint][1]


def describe_type(hint: Any) -> str:
    """A field type as docs/events.md shows it."""
    if (inner := _optional_of(hint)) is not None:
        return f"{describe_type(inner)} or null"
    if get_origin(hint) is Annotated:
        return _meaning(hint)[1].name
    if get_origin(hint) is dict:
        return f"object of string to {describe_type(get_args(hint)[1])}"
    if hint not in _PLAIN:
        raise TypeError(f"unsupported event field type {hint!r}")
    return _PLAIN[hint][0]
