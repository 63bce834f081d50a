"""Sign-in throttling: failures counted per email and per client IP in a fixed window,
in the database so every identity instance sees the same counts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import case
from sqlalchemy.dialects.postgresql import insert

from services.identity.models import SignInThrottle
from shared.clock import utcnow
from shared.errors import RateLimited
from shared.unit_of_work import UnitOfWork

WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_IP = 30


def _keys(email: str, ip: str | None) -> dict[str, int]:
    keys = {f"email:{email}": MAX_FAILURES_PER_EMAIL}
    if ip:
        keys[f"ip:{ip}"] = MAX_FAILURES_PER_IP
    return keys


def check(uow: UnitOfWork, email: str, ip: str | None) -> None:
    now = utcnow()
    for key, limit in _keys(email, ip).items():
        row = uow.session.get(SignInThrottle, key)
        if row and row.window_started_at + WINDOW > now and row.failures >= limit:
            retry_after = int((row.window_started_at + WINDOW - now).total_seconds()) + 1
            raise RateLimited("too many failed sign-ins; try again later", retry_after=retry_after)


def record_failure(uow: UnitOfWork, email: str, ip: str | None) -> None:
    now = utcnow()
    expired = SignInThrottle.window_started_at <= now - WINDOW
    for key in _keys(email, ip):
        statement = insert(SignInThrottle).values(key=key, window_started_at=now, failures=1)
        uow.session.execute(
            statement.on_conflict_do_update(
                index_elements=[SignInThrottle.key],
                set_={
                    "failures": case((expired, 1), else_=SignInThrottle.failures + 1),
                    "window_started_at": case(
                        (expired, now), else_=SignInThrottle.window_started_at
                    ),
                },
            )
        )


def clear(uow: UnitOfWork, email: str) -> None:
    row = uow.session.get(SignInThrottle, f"email:{email}")
    if row is not None:
        uow.session.delete(row)
