"""Throttling in fixed windows, counted in the database so every identity instance sees the
same counts.

Sign-in follows OWASP's device-cookie pattern: a client that presents a valid device token
for the email it signs in as (see `devices`) is limited per device only; any other client is
limited per email and per client address. So someone guessing from an office's shared
address, or guessing one person's password, cannot lock out the people who have signed in
from their own browser or app before.

Every attempt is counted before the password is checked, in a transaction of its own, so a
burst of parallel guesses cannot all pass a check that has not seen the others yet; an
attempt with the right password is forgiven afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, update
from sqlalchemy.dialects.postgresql import insert

from services.identity.models import SignInThrottle
from shared import config
from shared.clock import utcnow
from shared.errors import RateLimited
from shared.unit_of_work import UnitOfWork

WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_IP = 30
MAX_FAILURES_PER_DEVICE = 5
# Someone trying to sign up with a taken address makes its owner an email; at most this often.
WARNING_INTERVAL = timedelta(hours=1)


SIGN_IN_REFUSED = "too many failed sign-ins; try again later"
EMAIL_REQUESTS_REFUSED = "too many requests from your address; try again later"


@dataclass(frozen=True)
class Limit:
    """At most `most` attempts per `window` under `key`. A per-address limit is shared by
    everyone behind that address, so a right password only takes back its own attempt."""

    key: str
    most: int
    window: timedelta = WINDOW
    per_address: bool = False


def sign_in_limits(email: str, ip: str | None, device_id: str | None) -> list[Limit]:
    if device_id is not None:
        return [Limit(f"device:{device_id}", MAX_FAILURES_PER_DEVICE)]
    limits = [Limit(f"email:{email}", MAX_FAILURES_PER_EMAIL)]
    if ip:
        limits.append(Limit(f"ip:{ip}", MAX_FAILURES_PER_IP, per_address=True))
    return limits


def email_request_limits(ip: str | None) -> list[Limit]:
    """Unauthenticated requests that make the suite send an email, per client address."""
    if not ip:
        return []
    most = int(config.EMAIL_REQUESTS_PER_ADDRESS.get())
    return [Limit(f"mail-ip:{ip}", most, per_address=True)]


def warning_limit(user_id: str) -> Limit:
    return Limit(f"warned:{user_id}", 1, WARNING_INTERVAL)


def _count_one(uow: UnitOfWork, limit: Limit) -> tuple[int, datetime]:
    """Add one attempt under the limit's key (a new window once the last one is over);
    returns the attempts in the window so far and when the window started."""
    now = utcnow()
    expired = SignInThrottle.window_started_at <= now - limit.window
    statement = insert(SignInThrottle).values(key=limit.key, window_started_at=now, failures=1)
    row = uow.session.execute(
        statement.on_conflict_do_update(
            index_elements=[SignInThrottle.key],
            set_={
                "failures": case((expired, 1), else_=SignInThrottle.failures + 1),
                "window_started_at": case((expired, now), else_=SignInThrottle.window_started_at),
            },
        ).returning(SignInThrottle.failures, SignInThrottle.window_started_at)
    ).one()
    return row.failures, row.window_started_at


def count(uow: UnitOfWork, limits: list[Limit], refusal: str) -> None:
    """Count one attempt against every limit, or raise RateLimited (with the seconds until
    the window ends) if it would go beyond one; the refused attempt is not counted, as the
    transaction rolls back."""
    for limit in limits:
        attempts, started = _count_one(uow, limit)
        if attempts > limit.most:
            retry_after = int((started + limit.window - utcnow()).total_seconds()) + 1
            raise RateLimited(refusal, retry_after=max(retry_after, 1))


def admits(uow: UnitOfWork, limit: Limit) -> bool:
    """Count one attempt; whether it is within the limit (for limits that must not show)."""
    attempts, _ = _count_one(uow, limit)
    return attempts <= limit.most


def forgive(uow: UnitOfWork, limits: list[Limit]) -> None:
    """Take back one counted attempt from each limit."""
    for limit in limits:
        uow.session.execute(
            update(SignInThrottle)
            .where(SignInThrottle.key == limit.key)
            .values(failures=func.greatest(SignInThrottle.failures - 1, 0))
        )


def signed_in(uow: UnitOfWork, limits: list[Limit]) -> None:
    """The right password: the person's own counts (email, device) start again; a shared
    address's count only takes back this attempt, as others there may be guessing."""
    forgive(uow, [limit for limit in limits if limit.per_address])
    own = [limit.key for limit in limits if not limit.per_address]
    if own:
        uow.session.execute(delete(SignInThrottle).where(SignInThrottle.key.in_(own)))
