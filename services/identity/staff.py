"""CVT staff users: created by ops, never by sign-up."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.identity.events import UserDisabled, UserEnabled
from services.identity.models import User
from services.identity.schemas import ContactSchema, UserSchema
from services.identity.users import create_user, end_sessions, normalize_email
from shared import context
from shared.authorization import require_staff
from shared.clock import utcnow
from shared.errors import Conflict, NotFound
from shared.ids import is_cuid
from shared.unit_of_work import UnitOfWork


def ensure_staff_user(uow: UnitOfWork, email: str, name: str, password: str) -> tuple[User, bool]:
    """Create the staff user, or make an existing user staff. Returns (user, created).

    An existing user's password is left alone: re-running the seed must not reset it.
    """
    email = normalize_email(email)
    user = uow.session.scalar(select(User).where(User.email == email))
    if user is not None:
        if not user.is_admin:
            user.is_admin = True
            uow.audit("user.made_staff", "User", user.id, {"email": email})
        return user, False
    user = create_user(
        uow, User(email=email, name=name, is_admin=True, email_verified=utcnow()), password
    )
    uow.audit("user.staff_created", "User", user.id, {"email": email})
    return user, True


def staff_user(uow: UnitOfWork, user_id: str) -> dict[str, Any]:
    """A staff user's address and name (support assigns tickets only to staff who can
    sign in). Anyone else, a disabled staff user, and an id that cannot be a user's, is not
    found: callers learn no more."""
    require_staff()
    user = uow.session.get(User, user_id) if is_cuid(user_id) else None
    if user is None or not user.is_admin or user.disabled_at is not None:
        raise NotFound("staff user not found", {"user_id": ["not found"]})
    return ContactSchema().dump(user)


def _user_to_change(uow: UnitOfWork, user_id: str) -> User:
    """The user, locked: two staff acting on them at once announce one change, not two."""
    user = uow.session.get(User, user_id, with_for_update=True) if is_cuid(user_id) else None
    if user is None:
        raise NotFound("user not found", {"user_id": ["not found"]})
    return user


def disable_user(uow: UnitOfWork, user_id: str) -> dict[str, Any]:
    """Staff stop a person: every session ends now, and sign-in with the right password is
    refused (403) until they are enabled. Disabling a disabled user changes nothing."""
    ctx = require_staff()
    if ctx.actor_type == context.USER and ctx.actor_id == user_id:
        # Locking yourself out is a slip, never the intent; another staff member can.
        raise Conflict("you cannot disable yourself", {"user_id": ["yourself"]})
    user = _user_to_change(uow, user_id)
    if user.disabled_at is None:
        user.disabled_at = utcnow()
        ended = end_sessions(uow, user.id)
        uow.audit("user.disabled", "User", user.id, {"sessions_ended": ended})
        uow.emit(UserDisabled(user_id=user.id))
    return UserSchema().dump(user)


def enable_user(uow: UnitOfWork, user_id: str) -> dict[str, Any]:
    """Staff let a disabled person sign in again. Enabling an enabled user changes nothing."""
    require_staff()
    user = _user_to_change(uow, user_id)
    if user.disabled_at is not None:
        disabled_at, user.disabled_at = user.disabled_at, None
        uow.audit(
            "user.enabled",
            "User",
            user.id,
            {"disabled_at": disabled_at.isoformat()},
        )
        uow.emit(UserEnabled(user_id=user.id))
    return UserSchema().dump(user)
