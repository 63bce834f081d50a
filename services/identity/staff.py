"""CVT staff users: created by ops, never by sign-up."""

from __future__ import annotations

from sqlalchemy import select

from services.identity.models import User
from services.identity.users import create_user, normalize_email
from shared.clock import utcnow
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
