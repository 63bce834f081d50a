"""The catalogue of the suite's events, from their contracts (`services/<name>/events.py`)
and from the handlers every component registers for them: docs/events.md is its output.

    .venv/bin/python -m shared.event_catalogue > docs/events.md

A test fails when docs/events.md is not exactly this.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from dataclasses import dataclass

from nameko.events import BROADCAST, EventHandler
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from shared import config
from shared.components import COMPONENTS, service_class
from shared.events import ENVELOPE, Event, describe_type, field_types, required_fields

Route = tuple[str, str]
"""(publishing service, event type): the exchange and routing key of an event."""


def contracts() -> list[type[Event]]:
    """Every contract of the suite, service by service, in the order they are declared."""
    found: list[type[Event]] = []
    for service in config.SERVICES:
        name = f"services.{service}.events"
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        found += [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, Event)
            and value.__module__ == name
            and "event_type" in vars(value)  # bases that only share fields are not events
        ]
    return found


def contracts_by_route() -> dict[Route, type[Event]]:
    return {(c.source, c.event_type): c for c in contracts()}


@dataclass(frozen=True)
class Subscription:
    """A component's handler of one event."""

    component: str
    method: str
    route: Route
    broadcast: bool

    def describe(self) -> str:
        return f"{self.component} `{self.method}`" + (" (BROADCAST)" if self.broadcast else "")


def subscriptions() -> list[Subscription]:
    """Every event handler every component (the gateway too) registers."""
    found = []
    for component in COMPONENTS:
        for method, function in inspect.getmembers(service_class(component), inspect.isfunction):
            for entrypoint in getattr(function, ENTRYPOINT_EXTENSIONS_ATTR, ()):
                if isinstance(entrypoint, EventHandler):
                    route = (entrypoint.source_service, entrypoint.event_type)
                    broadcast = entrypoint.handler_type == BROADCAST
                    found.append(Subscription(component, method, route, broadcast))
    return found


def when(contract: type[Event]) -> str:
    """The contract's docstring, on one line."""
    return " ".join(inspect.getdoc(contract).split())


INTRO = """# Events

Generated from the event contracts (`services/<name>/events.py`, declared with
`shared/events.py`) and the handlers registered for them; do not edit by hand:
`.venv/bin/python -m shared.event_catalogue > docs/events.md` (a test fails when this file
is stale).

An event goes out on its publisher's exchange `<publisher>.events` (topic) with the event
as routing key. Its payload is a JSON object holding the fields listed below and, in every
event, `event_id` (string: the publisher's outbox row id; handlers deduplicate on it),
`occurred_at` (ISO-8601 datetime with offset) and `version` (integer). A handler refuses a
payload with a field missing, unknown or of the wrong type, or of a version it does not
read: the message is parked as a dead letter at once (`python -m ops dead-letters`)."""


def _fields_table(contract: type[Event]) -> list[str]:
    required = set(required_fields(contract))
    lines = ["| field | type |", "|---|---|"]
    for name, hint in field_types(contract).items():
        if name in ENVELOPE:
            continue
        optional = "" if name in required else " (may be left out)"
        lines.append(f"| `{name}` | {describe_type(hint)}{optional} |")
    return lines


def markdown() -> str:
    handlers: dict[Route, list[str]] = {}
    for subscription in subscriptions():
        handlers.setdefault(subscription.route, []).append(subscription.describe())
    summary = ["| event | version | publisher | handled by |", "|---|---|---|---|"]
    sections = []
    for c in contracts():
        handled_by = "; ".join(sorted(handlers.get((c.source, c.event_type), []))) or "—"
        summary.append(f"| `{c.event_type}` | {c.version} | {c.source} | {handled_by} |")
        module = c.__module__.replace(".", "/") + ".py"
        handled = f"Handled by {handled_by}." if handled_by != "—" else "No handler yet."
        sections += [
            f"## `{c.event_type}`",
            "",
            when(c),
            "",
            f"Published by {c.source} (contract `{c.__name__}`, version {c.version}, in "
            f"`{module}`). {handled}",
            "",
            *_fields_table(c),
            "",
        ]
    return "\n".join([INTRO, "", *summary, "", *sections]).rstrip() + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
