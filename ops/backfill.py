"""`python -m ops usage backfill FILE`: usage events from a file, through metering's own
ingest path.

The file is CSV (a header row) or JSON lines (`.jsonl`), one event a row: organization_id,
event_type, idempotency_key, timestamp (ISO-8601 with its UTC offset), and optionally
quantity (default 1), api_key_id and event_data (a JSON object; in CSV, as JSON text).
Each row is checked first — as metering checks what it stores, plus: the organization
exists, the API key is the organization's, the event type is registered and the moment is
not in the future — and only a file without a bad row is sent (`--dry-run` checks alone).
Rows go on metering's usage queue in batches of up to 1,000 per organization and key, as
the gateway sends them (persistent, publisher-confirmed, with a signed system context);
metering writes them as it consumes the queue. An event is counted once per organization
and idempotency key, so sending a file again, whole or after an interruption, adds nothing
twice. Unlike the API, there is no 35-day limit on late events: usage of a period already
invoiced is billed on the organization's next invoice.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nameko.amqp.publish import Publisher
from sqlalchemy import select

from ops import processes
from ops.database import unit_of_work
from ops.table import format_table
from services.identity.models import ApiKey, Organization
from services.metering import event_types, ingest
from services.metering.events import USAGE_EXCHANGE, USAGE_QUEUE, USAGE_ROUTING_KEY
from services.metering.schemas import FUTURE_TOLERANCE, MAX_BATCH
from shared import config
from shared.clock import utcnow
from shared.context import SYSTEM, CallContext

COLUMNS = ("organization_id", "api_key_id", "event_type", "quantity", "timestamp",
           "idempotency_key", "event_data")  # fmt: skip
# Problems shown per run; the rest are counted.
SHOWN_PROBLEMS = 20


class FileUnreadable(ValueError):
    pass


@dataclass
class Row:
    line: int
    organization_id: str
    api_key_id: str | None
    event: dict[str, Any]


@dataclass
class Checked:
    rows: list[Row] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)


def _csv_values(record: dict[str, str]) -> dict[str, Any]:
    """Empty cells are absent; quantity and event_data are decoded where they can be (what
    cannot stays text, which the check names)."""
    values: dict[str, Any] = {name: value for name, value in record.items() if value != ""}
    if "quantity" in values:
        with contextlib.suppress(ValueError):
            values["quantity"] = int(values["quantity"])
    if "event_data" in values:
        with contextlib.suppress(json.JSONDecodeError):
            values["event_data"] = json.loads(values["event_data"])
    return values


def read(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, raw values) per row."""
    with path.open(newline="", encoding="utf-8") as source:
        if path.suffix in (".jsonl", ".ndjson"):
            for line, text in enumerate(source, start=1):
                if text.strip():
                    try:
                        yield line, json.loads(text)
                    except json.JSONDecodeError as exc:
                        raise FileUnreadable(f"line {line}: not JSON: {exc}") from None
            return
        reader = csv.DictReader(source)
        unknown = set(reader.fieldnames or ()) - set(COLUMNS)
        if unknown:
            raise FileUnreadable(f"unknown columns: {', '.join(sorted(unknown))}")
        for record in reader:
            yield reader.line_num, _csv_values(record)


def _row_problems(values: dict[str, Any], known_types: frozenset[str]) -> dict[str, list[str]]:
    event = {name: values[name] for name in COLUMNS[2:] if name in values}
    message = {
        "organization_id": values.get("organization_id"),
        "api_key_id": values.get("api_key_id"),
        "received_at": utcnow().isoformat(),
        "events": [event],
    }
    _, problems = ingest.storable_events(message)
    if event.get("event_data") is not None and not isinstance(event["event_data"], dict):
        problems["event_data"] = ["a JSON object"]
    if event.get("event_type") not in known_types:
        problems.setdefault("event_type", []).append("not a registered event type")
    if not event.get("timestamp"):
        problems.setdefault("timestamp", []).append("required in a back-fill")
    elif (
        "events.0.timestamp" not in problems
        and datetime.fromisoformat(event["timestamp"]) > utcnow() + FUTURE_TOLERANCE
    ):
        problems["timestamp"] = ["in the future"]
    return problems


def check(path: Path) -> Checked:
    with unit_of_work("metering") as uow:
        known_types = frozenset(event_types.active_event_types(uow))
    checked = Checked()
    for line, values in read(path):
        if not isinstance(values, dict):
            checked.problems.append((line, "not an object"))
            continue
        problems = _row_problems(values, known_types)
        if problems:
            text = "; ".join(f"{name.removeprefix('events.0.')}: {', '.join(messages)}"
                             for name, messages in sorted(problems.items()))  # fmt: skip
            checked.problems.append((line, text))
            continue
        event = {name: values[name] for name in COLUMNS[2:] if name in values}
        event.setdefault("quantity", 1)
        event.setdefault("event_data", None)
        checked.rows.append(Row(line, values["organization_id"], values.get("api_key_id"), event))
    checked.problems.extend(_unknown_owners(checked.rows))
    return checked


def _unknown_owners(rows: list[Row]) -> list[tuple[int, str]]:
    """Rows naming an organization identity does not know, or another organization's key."""
    organization_ids = {row.organization_id for row in rows}
    key_ids = {row.api_key_id for row in rows if row.api_key_id}
    with unit_of_work("identity") as uow:
        organizations = select(Organization.id).where(Organization.id.in_(organization_ids))
        known = set(uow.session.scalars(organizations))
        keys = select(ApiKey.id, ApiKey.organization_id).where(ApiKey.id.in_(key_ids))
        owners = {key_id: owner for key_id, owner in uow.session.execute(keys)}
    problems = []
    for row in rows:
        if row.organization_id not in known:
            problems.append((row.line, "organization_id: no such organization"))
        elif row.api_key_id and owners.get(row.api_key_id) != row.organization_id:
            problems.append((row.line, "api_key_id: not an API key of this organization"))
    return problems


def batches(rows: list[Row]) -> Iterator[dict[str, Any]]:
    """Messages as the gateway publishes them: one organization and key each, up to
    MAX_BATCH events, in file order."""
    grouped: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row.organization_id, row.api_key_id), []).append(row.event)
    for (organization_id, api_key_id), events in grouped.items():
        for start in range(0, len(events), MAX_BATCH):
            yield {
                "organization_id": organization_id,
                "api_key_id": api_key_id,
                "received_at": utcnow().isoformat(),
                "events": events[start : start + MAX_BATCH],
            }


def send(messages: list[dict[str, Any]], progress: Callable[[int], None]) -> int:
    """Each message returns once RabbitMQ confirmed it; returns the events sent."""
    publisher = Publisher(config.AMQP_URI.get(), serializer="json", declare=[USAGE_QUEUE])
    headers = CallContext(actor_type=SYSTEM).to_headers()
    sent = 0
    for message in messages:
        publisher.publish(
            message,
            exchange=USAGE_EXCHANGE,
            routing_key=USAGE_ROUTING_KEY,
            mandatory=True,
            headers=headers,
        )
        sent += len(message["events"])
        progress(sent)
    return sent


def progress_bar(total: int, width: int = 30) -> Callable[[int], None]:
    def show(done: int) -> None:
        filled = width * done // max(total, 1)
        end = "\n" if done >= total else ""
        print(f"\rsent [{'#' * filled}{'.' * (width - filled)}] {done}/{total} events",
              end=end, flush=True)  # fmt: skip

    return show


def _backfill(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        checked = check(path)
    except (OSError, FileUnreadable, UnicodeDecodeError) as exc:
        print(f"error: {path}: {exc}")
        return 1
    problems = sorted(checked.problems)
    bad_lines = {line for line, _ in problems}
    good = [row for row in checked.rows if row.line not in bad_lines]
    counts = (path.name, len(good) + len(bad_lines), len(good), len(bad_lines))
    print(format_table(["file", "rows", "valid", "with problems"], [counts]))
    if problems:
        print()
        print(format_table(["line", "problem"], problems[:SHOWN_PROBLEMS]))
        if len(problems) > SHOWN_PROBLEMS:
            print(f"... and {len(problems) - SHOWN_PROBLEMS} more")
        print("\nnothing sent: correct the file and run again")
        return 1
    if args.dry_run:
        print("\ndry run: nothing sent")
        return 0
    processes.adopt_local_signing_key(Path(config.CVT_VAR_DIR.get()))
    messages = list(batches(good))
    sent = send(messages, progress_bar(len(good)))
    print(f"{sent} events in {len(messages)} batches are on metering's queue "
          f"({USAGE_QUEUE.name}); duplicates of earlier runs are ignored as metering "
          "writes them. Watch it drain: python -m ops queues metering")  # fmt: skip
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "usage",
        help="back-fill usage events from a file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True)
    backfill = actions.add_parser("backfill", help="CSV or JSON lines, idempotent")
    backfill.add_argument("file")
    backfill.add_argument("--dry-run", action="store_true", help="check the file, send nothing")
    backfill.set_defaults(run=_backfill)
