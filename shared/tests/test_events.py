"""Event contracts: a payload either meets its contract exactly or is refused naming the
fields at fault; the unit of work writes what the contract says; every contract of the
suite is declared the one way, and every handler reads a declared event."""

from __future__ import annotations

import ast
import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.billing.events import InvoiceIssued
from services.identity.events import ApiKeysUsed, OrganizationDeleted, UserRegistered
from shared import event_catalogue
from shared.errors import ValidationFailed
from shared.events import Cents, Event, Timestamp, describe_type, field_types

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, kw_only=True)
class Parcel(Event):
    """A parcel left the depot (a test contract)."""

    source = "depot"
    event_type = "parcel.sent"
    version = 2

    parcel_id: str
    weight: int
    fee: Cents
    sent_at: Timestamp
    insured: bool
    note: str | None = None
    stops: dict[str, Timestamp]


def parcel(**changes: Any) -> Parcel:
    fields = {
        "parcel_id": "p1",
        "weight": 3,
        "fee": 1250,
        "sent_at": "2026-11-25T09:30:00+02:00",
        "insured": False,
        "stops": {"harare": "2026-11-25T12:00:00+00:00"},
    }
    return Parcel(**(fields | changes))


def refusal(payload: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as refused:
        Parcel.from_payload(payload)
    assert "parcel.sent" in refused.value.message
    return refused.value.fields


def test_a_payload_carries_the_fields_the_envelope_and_the_version_and_reads_back() -> None:
    sent = parcel(note="fragile")
    payload = sent.to_payload()
    assert payload == {
        "event_id": sent.event_id,
        "occurred_at": sent.occurred_at,
        "version": 2,
        "parcel_id": "p1",
        "weight": 3,
        "fee": 1250,
        "sent_at": "2026-11-25T09:30:00+02:00",
        "insured": False,
        "note": "fragile",
        "stops": {"harare": "2026-11-25T12:00:00+00:00"},
    }
    assert Parcel.from_payload(payload) == sent


def test_each_event_gets_its_own_id_and_the_time_it_was_made() -> None:
    first, second = parcel(), parcel()
    assert first.event_id != second.event_id
    assert first.occurred_at.endswith("+00:00")


def test_an_optional_field_may_be_null_or_left_out() -> None:
    payload = parcel().to_payload()
    assert Parcel.from_payload(payload).note is None
    del payload["note"]
    assert Parcel.from_payload(payload).note is None


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"weight": "3"}, "weight", "expected an integer"),
        ({"weight": True}, "weight", "expected an integer"),
        ({"weight": 3.0}, "weight", "expected an integer"),
        ({"parcel_id": 7}, "parcel_id", "expected a string"),
        ({"insured": 1}, "insured", "expected true or false"),
        ({"sent_at": "yesterday"}, "sent_at", "expected an ISO-8601 datetime"),
        ({"sent_at": "2026-11-25T09:30:00"}, "sent_at", "expected a UTC offset"),
        ({"note": ["a"]}, "note", "expected a string"),
        ({"stops": ["harare"]}, "stops", "expected an object"),
        ({"stops": {"harare": "noon"}}, "stops", "harare: expected an ISO-8601 datetime"),
        ({"event_id": None}, "event_id", "expected a string"),
    ],
)
def test_a_field_of_the_wrong_type_is_refused_by_name(
    change: dict, field: str, problem: str
) -> None:
    assert refusal(parcel().to_payload() | change) == {field: [problem]}


def test_missing_and_unknown_fields_are_refused_by_name_all_at_once() -> None:
    payload = parcel().to_payload()
    del payload["fee"], payload["event_id"]
    payload["payment_token"] = "secret"
    assert refusal(payload) == {
        "fee": ["missing"],
        "event_id": ["missing"],
        "payment_token": ["unknown field"],
    }


@pytest.mark.parametrize("version", [1, 3, "2", True, None])
def test_a_version_this_code_does_not_read_is_refused(version: Any) -> None:
    payload = parcel().to_payload() | {"version": version}
    assert refusal(payload) == {"version": ["unknown version; this code reads 2"]}


def test_a_payload_without_a_version_or_not_an_object_is_refused() -> None:
    payload = parcel().to_payload()
    del payload["version"]
    assert refusal(payload) == {"version": ["missing"]}
    assert refusal(["p1"]) == {"_schema": ["expected a JSON object"]}


class Colour(enum.StrEnum):
    RED = "RED"


@pytest.mark.parametrize(
    "change", [{"weight": "3"}, {"parcel_id": Colour.RED}, {"sent_at": "2026-11-25"}]
)
def test_an_event_made_in_code_with_a_wrong_value_is_a_bug_at_once(change: dict) -> None:
    with pytest.raises(TypeError, match=r"parcel\.sent event does not meet its contract"):
        parcel(**change)


def test_field_types_read_as_docs_events_md_shows_them() -> None:
    shown = {name: describe_type(hint) for name, hint in field_types(Parcel).items()}
    assert shown == {
        "event_id": "string",
        "occurred_at": "ISO-8601 datetime with offset",
        "parcel_id": "string",
        "weight": "integer",
        "fee": "integer (US cents)",
        "sent_at": "ISO-8601 datetime with offset",
        "insured": "boolean",
        "note": "string or null",
        "stops": "object of string to ISO-8601 datetime with offset",
    }


def test_a_contract_without_its_own_dataclass_decorator_is_refused() -> None:
    class Undecorated(Event):
        source, event_type = "depot", "parcel.lost"
        parcel_id: str

    with pytest.raises(TypeError, match="needs @dataclass"):
        field_types(Undecorated)


# --- the unit of work -------------------------------------------------------------------------


def test_emit_writes_the_payload_the_contract_makes(unit_of_work) -> None:
    event = UserRegistered(user_id="u1", email="tendai@example.co.zw", name=None)
    with unit_of_work("identity") as uow:
        assert uow.emit(event) == event.event_id
    with unit_of_work("identity") as uow:
        outbox = uow.tables.outbox_message
        row = uow.session.scalars(select(outbox).where(outbox.id == event.event_id)).one()
    assert (row.event_type, row.payload) == ("user.registered", event.to_payload())
    assert UserRegistered.from_payload(row.payload) == event


def test_a_service_cannot_emit_another_services_event(unit_of_work) -> None:
    refused = pytest.raises(TypeError, match="billing cannot publish identity's")
    with refused, unit_of_work("billing") as uow:
        uow.emit(OrganizationDeleted(organization_id="o1"))


# --- the suite's contracts ----------------------------------------------------------------------


def test_every_contract_is_declared_the_one_way() -> None:
    contracts = event_catalogue.contracts()
    assert InvoiceIssued in contracts and ApiKeysUsed in contracts
    routes = [(c.source, c.event_type) for c in contracts]
    assert len(set(routes)) == len(routes), "one contract per event"
    for contract in contracts:
        generated = f"{contract.__name__}("  # what @dataclass writes when there is no docstring
        assert not (contract.__doc__ or generated).startswith(generated), contract
        assert [describe_type(hint) for hint in field_types(contract).values()]
        assert contract.source in event_catalogue.COMPONENTS, contract


def test_no_event_carries_a_token() -> None:
    for contract in event_catalogue.contracts():
        assert not [name for name in field_types(contract) if "token" in name], contract


def test_contract_modules_import_nothing_but_the_contract_base() -> None:
    """Any consumer, the gateway too, imports them without importing another service."""
    for path in sorted(ROOT.glob("services/*/events.py")):
        imported = {
            node.module
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom)
        } | {
            alias.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        # kombu: metering's usage work queue is declared beside its events.
        assert imported <= {"__future__", "dataclasses", "kombu", "shared.events"}, path


def test_every_event_handler_reads_a_declared_event() -> None:
    routes = event_catalogue.contracts_by_route()
    subscriptions = event_catalogue.subscriptions()
    assert subscriptions
    assert [s for s in subscriptions if s.route not in routes] == []
