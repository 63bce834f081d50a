"""CVT staff users: created by ops, never by sign-up."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.identity.models import User
from services.identity.schemas import ContactSchema
from services.identity.users import create_user, normalize_email
from shared.authorization import require_staff
from shared.clock import utcnow
from shared.errors import NotFound
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
    """A staff user's address and name (support assigns tickets only to staff). Anyone
    else, and an id that cannot be a user's, is not found: callers learn no more."""
    require_staff()
    user = uow.session.get(User, user_id) if is_cuid(user_id) else None
    if user is None or not user.is_admin:
        raise NotFound("staff user not found", {"user_id": ["not found"]})
    return ContactSchema().dump(user)
