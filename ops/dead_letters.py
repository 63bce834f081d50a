"""`python -m ops dead-letters`: what the suite's consumers parked, and what to do with it.

dead-letters [SERVICE]                    parked messages per service, then each one
dead-letters show SERVICE ID              one parked message: headers and body
dead-letters replay SERVICE (ID | --all)  back to the queue it failed on (after a fix)
dead-letters drop SERVICE (ID | --all)    delete for good
"""

from __future__ import annotations

import argparse

from ops.table import format_table
from shared import config, dead_letters

ERROR_COLUMN_WIDTH = 70


def _amqp() -> str:
    return config.AMQP_URI.get()


def _short(text: str, width: int = ERROR_COLUMN_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _list(args: argparse.Namespace) -> None:
    services = [args.service] if args.service else list(config.SERVICES)
    counts = dead_letters.count(_amqp(), tuple(services))
    print(format_table(["service", "parked"], sorted(counts.items())))
    rows = [
        (letter.service, letter.id, letter.queue, letter.attempts, letter.parked_at[:19],
         _short(letter.error))
        for service in services
        if counts[service]
        for letter in dead_letters.list_parked(_amqp(), service)
    ]  # fmt: skip
    if rows:
        print()
        print(format_table(["service", "id", "queue", "attempts", "parked at", "error"], rows))


def _show(args: argparse.Namespace) -> None:
    letters = [
        letter for letter in dead_letters.list_parked(_amqp(), args.service) if letter.id == args.id
    ]
    if not letters:
        raise SystemExit(f"no dead letter {args.id} in {args.service}")
    letter = letters[0]
    fields = [
        ("id", letter.id),
        ("queue", letter.queue),
        ("attempts", letter.attempts),
        ("parked at", letter.parked_at),
        ("error", letter.error),
    ]
    print(format_table(["field", "value"], fields))
    print("\nbody:")
    print(letter.body)


def _target(args: argparse.Namespace) -> str | None:
    if args.all == (args.id is not None):
        raise SystemExit("name one dead letter id, or --all")
    return args.id


def _replay(args: argparse.Namespace) -> None:
    replayed, kept = dead_letters.replay(_amqp(), args.service, _target(args))
    print(
        format_table(["service", "replayed", "kept (queue gone)"], [(args.service, replayed, kept)])
    )


def _drop(args: argparse.Namespace) -> None:
    dropped = dead_letters.drop(_amqp(), args.service, _target(args))
    print(format_table(["service", "dropped"], [(args.service, dropped)]))


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "dead-letters",
        help="list, show, replay or drop parked messages",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=_list, service=None)
    actions = parser.add_subparsers(dest="action")
    for name in config.SERVICES:
        # `dead-letters billing` reads as naturally as `dead-letters list billing`.
        actions.add_parser(name).set_defaults(run=_list, service=name)
    listing = actions.add_parser("list")
    listing.add_argument("service", nargs="?", choices=config.SERVICES)
    listing.set_defaults(run=_list)
    show = actions.add_parser("show")
    show.add_argument("service", choices=config.SERVICES)
    show.add_argument("id")
    show.set_defaults(run=_show)
    for name, run in (("replay", _replay), ("drop", _drop)):
        sub = actions.add_parser(name)
        sub.add_argument("service", choices=config.SERVICES)
        sub.add_argument("id", nargs="?")
        sub.add_argument("--all", action="store_true", help="every parked message of the service")
        sub.set_defaults(run=run)
