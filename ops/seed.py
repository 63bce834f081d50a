"""Seed data: the CVT staff admin user and every service's default settings. Idempotent."""

from __future__ import annotations

import importlib
import secrets

from ops.database import unit_of_work
from services.identity.staff import ensure_staff_user
from shared import config
from shared.settings import ensure_defaults


def seed() -> list[tuple[str, str]]:
    """Returns (what, outcome) rows for a person to read."""
    report = []
    password = config.CVT_ADMIN_PASSWORD.get()
    generated = not password
    if generated:
        password = secrets.token_urlsafe(18)
    email = config.CVT_ADMIN_EMAIL.get()
    with unit_of_work("identity") as uow:
        _, created = ensure_staff_user(uow, email, config.CVT_ADMIN_NAME.get(), password)
    if not created:
        outcome = "already present (password unchanged)"
    elif generated:
        outcome = f"created; generated password (shown once): {password}"
    else:
        outcome = "created with CVT_ADMIN_PASSWORD"
    report.append((f"staff user {email}", outcome))
    for service in config.SERVICES:
        try:
            defaults = importlib.import_module(f"services.{service}.settings").DEFAULTS
        except ModuleNotFoundError:
            continue
        with unit_of_work(service) as uow:
            added = ensure_defaults(uow, defaults)
        report.append((f"{service} settings", f"added {', '.join(added)}" if added else "present"))
    return report
