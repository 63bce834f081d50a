"""Known devices, OWASP's device cookie: after a successful sign-in the client gets a random
device token (a browser as the HttpOnly `cvt_device` cookie, an app as `device_token` in
the answer). Signing in again as the same user with it, the client is limited per device
instead of per address and per email (see `throttle`). It is no credential: the password
is still needed.

Only its SHA-256 is stored. It is replaced at every sign-in, so a copy taken earlier stops
working once its owner signs in again from that device.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from services.identity.models import KnownDevice, User
from shared.clock import utcnow
from shared.tokens import new_secret, secret_hash
from shared.unit_of_work import UnitOfWork

DEVICE_LIFETIME = timedelta(days=180)
# Every sign-in without a token adds a device; beyond this many the least recent go.
MAX_DEVICES_PER_USER = 20


def recognise(uow: UnitOfWork, token: str | None, email: str) -> str | None:
    """The id of the device `token` belongs to, if it is a live device of `email`'s user."""
    if not token:
        return None
    return uow.session.scalar(
        select(KnownDevice.id)
        .join(User, User.id == KnownDevice.user_id)
        .where(
            KnownDevice.token_hash == secret_hash(token),
            User.email == email,
            KnownDevice.expires_at > utcnow(),
        )
    )


def remember(uow: UnitOfWork, user_id: str, device_id: str | None) -> tuple[str, datetime]:
    """A fresh token for the device that just signed in (a new device if it had none);
    returns the token and when it expires."""
    device = uow.session.get(KnownDevice, device_id) if device_id else None
    if device is None or device.user_id != user_id:
        device = KnownDevice(user_id=user_id)
        uow.session.add(device)
    token = new_secret()
    device.token_hash = secret_hash(token)
    device.expires_at = utcnow() + DEVICE_LIFETIME
    device.updated_at = utcnow()
    uow.session.flush()
    _forget_beyond_the_most_recent(uow, user_id)
    return token, device.expires_at


def _forget_beyond_the_most_recent(uow: UnitOfWork, user_id: str) -> None:
    kept = (
        select(KnownDevice.id)
        .where(KnownDevice.user_id == user_id, KnownDevice.expires_at > utcnow())
        .order_by(KnownDevice.updated_at.desc())
        .limit(MAX_DEVICES_PER_USER)
    )
    uow.session.execute(
        delete(KnownDevice)
        .where(KnownDevice.user_id == user_id, KnownDevice.id.not_in(kept))
        .execution_options(synchronize_session=False)
    )
