"""`python -m ops audit verify [--service S]`: walk each service's audit hash chain.

Prints one line per service (rows, verified, first bad seq, problem) and exits non-zero
when any chain shows a row changed, removed or inserted out of chain (see `shared.audit`).
"""

from __future__ import annotations

import argparse

from sqlalchemy import pool

from ops.table import format_table
from shared import audit, config
from shared.db import make_engine


def verify_service(service: str) -> audit.ChainReport:
    engine = make_engine(config.database_url(service), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return audit.verify_schema(conn, service)
    finally:
        engine.dispose()


def _verify(args: argparse.Namespace) -> int:
    services = [args.service] if args.service else list(config.SERVICES)
    reports = {service: verify_service(service) for service in services}
    rows = [
        (service, report.rows, report.verified, report.first_bad_seq or "-",
         report.problem or "ok")
        for service, report in reports.items()
    ]  # fmt: skip
    print(format_table(["service", "rows", "verified", "first bad seq", "problem"], rows))
    broken = [service for service, report in reports.items() if not report.intact]
    if broken:
        print(f"\naudit chain broken in: {', '.join(broken)}")
        return 1
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "audit",
        help="verify the audit trail's hash chains",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True)
    verify = actions.add_parser("verify", help="walk every chain (or one service's)")
    verify.add_argument("--service", choices=config.SERVICES)
    verify.set_defaults(run=_verify)
