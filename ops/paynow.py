"""`python -m ops paynow rotate-key [--key GUID]`: a new Paynow integration key for the
suite `python -m ops` runs on this machine.

The key signs every message between the payments service and Paynow, both ways, and
payments reads it once, at start: rotating is replacing PAYNOW_INTEGRATION_KEY and
restarting payments (and the simulator, which must know the same key). Paynow issues the
key: after generating a new one in Paynow's dashboard, pass it with `--key`; for the
simulator, a new GUID is made. Where the environment sets PAYNOW_INTEGRATION_KEY (a
Kubernetes Secret, a compose .env), change it there and restart payments instead: see
docs/operations.md, "Rotating the Paynow integration key".
"""

from __future__ import annotations

import argparse
import os
import uuid
from pathlib import Path

from ops import processes
from ops.table import format_table
from shared import config

# Restarted in this order: the simulator must know the new key before payments uses it.
USERS_OF_THE_KEY = ("paynow-simulator", "payments")


def write_local_integration(var_dir: Path, key: str) -> str:
    """Replace the key kept under the var directory (the integration id stays); returns
    the integration id. Written beside and renamed, so no reader sees half a key."""
    integration_id, _ = processes.local_paynow_integration(var_dir)
    path = var_dir / processes.PAYNOW_INTEGRATION_FILE
    draft = path.with_name(f"{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"{integration_id}:{key}\n")
    os.replace(draft, path)
    return integration_id


def _rotate(args: argparse.Namespace) -> int:
    if os.environ.get(config.PAYNOW_INTEGRATION_KEY.name):
        print(
            f"error: the environment sets {config.PAYNOW_INTEGRATION_KEY.name}: change it where "
            "it is set, then restart payments (docs/operations.md, Rotating the Paynow "
            "integration key)"
        )
        return 1
    try:
        key = str(uuid.UUID(args.key)) if args.key else str(uuid.uuid4())
    except ValueError:
        print("error: --key: Paynow integration keys are GUIDs")
        return 1
    supervisor = processes.Supervisor(Path(config.CVT_VAR_DIR.get()).resolve())
    integration_id = write_local_integration(supervisor.var_dir, key)
    rows = []
    for component in USERS_OF_THE_KEY:
        if supervisor.pid(component) is None:
            rows.append((component, "not running: uses the new key when started"))
            continue
        supervisor.stop(component)
        supervisor.start(component)
        supervisor.wait_listening(component)
        rows.append((component, "restarted with the new key"))
    print(f"Paynow integration {integration_id}: new key in {processes.PAYNOW_INTEGRATION_FILE}")
    print(format_table(["component", "result"], rows))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "paynow",
        help="rotate the Paynow integration key",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True)
    rotate = actions.add_parser("rotate-key", help="new key, then restart payments")
    rotate.add_argument("--key", help="the key Paynow generated (default: a new GUID)")
    rotate.set_defaults(run=_rotate)
