"""`python -m ops <command>`: run and operate the suite on this machine.

up                 create databases, migrate, seed, start everything, wait until ready
down               stop everything
start|stop|restart|kill COMPONENT
status             which components run, their pids and logs; per service, what waits
migrate [SERVICE]  apply migrations (all services by default)
seed               staff admin user and default settings (idempotent)
env                every environment variable the suite reads
dead-letters ...   parked messages: list, show, replay, drop (see `dead-letters -h`)
audit verify       walk the audit hash chains (`--service S`: one); exit 1 if one is broken
billing ...        a month's billing run with its progress; list runs; overdue as of a moment
health [SERVICE]   ask services for their health RPC; exit 1 unless all answer
queues [SERVICE]   every queue the services consume: messages waiting, consumers
staff create EMAIL a CVT staff user (idempotent)
paynow rotate-key  a new Paynow integration key, then restart payments and the simulator
usage backfill F   usage events from a CSV or JSON-lines file, through metering's queue
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kombu.exceptions import OperationalError

from ops import (
    audit,
    backfill,
    billing,
    database,
    dead_letters,
    health,
    paynow,
    processes,
    queues,
    staff,
)
from ops.seed import seed
from ops.table import format_table
from shared import config, migrations
from shared.context import SigningKeyMissing


def supervisor() -> processes.Supervisor:
    return processes.Supervisor(Path(config.CVT_VAR_DIR.get()).resolve())


def cmd_up(_: argparse.Namespace) -> None:
    created = database.create_databases()
    print(f"databases: {'created ' + ', '.join(created) if created else 'present'}")
    database.migrate_all()
    print("migrations: applied")
    print(format_table(["seed", "outcome"], seed()))
    sup = supervisor()
    sup.start_all()
    print(f"starting {len(processes.COMPONENTS)} processes; waiting for /v1/ready ...")
    body = sup.wait_ready()
    print(format_table(processes.STATUS_HEADERS, sup.status_rows()))
    print(format_table(["service", "health"], sorted(body["services"].items())))
    print(f"\ngateway: {sup.gateway_url}   (docs: {sup.gateway_url}/v1/docs)")


def cmd_down(_: argparse.Namespace) -> None:
    sup = supervisor()
    rows = [(c, "stopped" if sup.stop(c) else "was not running") for c in processes.COMPONENTS]
    print(format_table(["component", "result"], rows))


def cmd_status(_: argparse.Namespace) -> None:
    sup = supervisor()
    print(format_table(processes.STATUS_HEADERS, sup.status_rows()))
    ok, body = sup.ready()
    print(f"\n/v1/ready: {'ready' if ok else body.get('error', {}).get('message', body)}")
    # From the broker itself, so a service that is down still shows what waits for it.
    try:
        found = queues.depths(config.AMQP_URI.get(), config.SERVICES)
    except (OSError, OperationalError) as exc:
        print(f"\nqueues: broker unreachable: {exc}")
        return
    print()
    print(format_table(queues.SUMMARY_HEADERS, queues.summary_rows(found)))
    print("\n(python -m ops queues: every queue; python -m ops dead-letters: what is parked)")


def cmd_component(args: argparse.Namespace) -> None:
    sup = supervisor()
    if args.command in ("stop", "restart"):
        sup.stop(args.component)
    if args.command == "kill":
        sup.kill(args.component)
    if args.command in ("start", "restart"):
        pid = sup.start(args.component)
        print(f"{args.component}: pid {pid}", flush=True)
        if (address := sup.wait_listening(args.component)) is not None:
            print(f"{args.component}: listening on {address}")
    print(format_table(processes.STATUS_HEADERS, sup.status_rows()))


def cmd_migrate(args: argparse.Namespace) -> None:
    database.create_databases()
    for service in args.services or config.SERVICES:
        migrations.upgrade(service)
        print(f"{service}: migrated to head")


def cmd_seed(_: argparse.Namespace) -> None:
    print(format_table(["seed", "outcome"], seed()))


def cmd_env(_: argparse.Namespace) -> None:
    rows = [(s.name, s.default or "-", s.help) for s in config.all_settings()]
    print(format_table(["variable", "default", "meaning"], rows))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up").set_defaults(run=cmd_up)
    commands.add_parser("down").set_defaults(run=cmd_down)
    commands.add_parser("status").set_defaults(run=cmd_status)
    for name in ("start", "stop", "restart", "kill"):
        sub = commands.add_parser(name)
        sub.add_argument("component", choices=processes.COMPONENTS)
        sub.set_defaults(run=cmd_component)
    migrate = commands.add_parser("migrate")
    migrate.add_argument("services", nargs="*", choices=[[], *config.SERVICES], default=[])
    migrate.set_defaults(run=cmd_migrate)
    commands.add_parser("seed").set_defaults(run=cmd_seed)
    commands.add_parser("env").set_defaults(run=cmd_env)
    dead_letters.register(commands)
    audit.register(commands)
    billing.register(commands)
    for module in (health, queues, staff, paynow, backfill):
        module.register(commands)
    args = parser.parse_args(argv)
    try:
        # A command that finds something wrong (a broken audit chain) says so in its status.
        status = args.run(args)
    except (processes.SupervisorError, SigningKeyMissing) as exc:
        # On stdout, with the command's other output: `make` targets and scripts that keep
        # stdout show it where the user looks; the exit status says it failed.
        print(f"error: {exc}", flush=True)
        return 1
    return status or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
