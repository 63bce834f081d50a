"""`python -m ops staff create EMAIL [--name NAME]`: a CVT staff user, or staff rights for
an existing user (whose password is left alone). The new user's password is read from
standard input with `--password-stdin`, else generated and shown once."""

from __future__ import annotations

import argparse
import secrets
import sys

from marshmallow import ValidationError

from ops.database import unit_of_work
from ops.table import format_table
from services.identity.schemas import PASSWORD
from services.identity.staff import ensure_staff_user


def create(email: str, name: str, password: str | None) -> tuple[str, str]:
    """(user id, outcome for a person to read)."""
    generated = password is None
    chosen = secrets.token_urlsafe(18) if password is None else password
    with unit_of_work("identity") as uow:
        user, created = ensure_staff_user(uow, email, name, chosen)
    if not created:
        return user.id, "already a user: now staff (password unchanged)"
    if generated:
        return user.id, f"created; generated password (shown once): {chosen}"
    return user.id, "created with the given password"


def _create(args: argparse.Namespace) -> int:
    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        try:
            PASSWORD(password)  # the rule sign-up and password changes apply
        except ValidationError as exc:
            print(f"error: password: {' '.join(exc.messages)}")
            return 1
    user_id, outcome = create(args.email, args.name or args.email.split("@")[0], password)
    print(format_table(["staff user", "id", "outcome"], [(args.email, user_id, outcome)]))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("staff", help="create CVT staff users", description=__doc__)
    actions = parser.add_subparsers(dest="action", required=True)
    create_parser = actions.add_parser("create", help="a staff user (idempotent)")
    create_parser.add_argument("email")
    create_parser.add_argument("--name", help="shown to colleagues (default: the email's name)")
    create_parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create_parser.set_defaults(run=_create)
