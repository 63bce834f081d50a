"""Sign-in sessions. The token goes to the client once; the database keeps its hash."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select

from services.identity import devices, settings, throttle
from services.identity.models import OrganizationMember, Session, User
from services.identity.passwords import hash_password, verify_password
from services.identity.schemas import SessionSchema, SignInSchema, UserSchema
from services.identity.users import credential_of, normalize_email, user_by_email
from shared import context
from shared.authorization import require_user
from shared.clock import utcnow
from shared.errors import DomainError, Forbidden, Unauthorized
from shared.pagination import paginate
from shared.schemas import PageQuerySchema, load
from shared.tokens import csrf_token_for, new_secret, secret_hash
from shared.unit_of_work import UnitOfWork

# Verifying against this keeps an unknown email as slow as a wrong password.
_DUMMY_HASH = hash_password(new_secret())


@dataclass(frozen=True)
class SignInAttempt:
    """A sign-in attempt already counted against its limits, on its way to the password
    check (in a second transaction)."""

    email: str
    password: str = field(repr=False)
    device_id: str | None
    limits: tuple[throttle.Limit, ...]


@dataclass(frozen=True)
class SignInOutcome:
    """A refused sign-in still commits its audit row (and the forgiveness of a right
    password), so the domain returns the error instead of raising it inside the transaction."""

    signed_in: dict[str, Any] | None = None
    error: DomainError | None = None

    def result(self) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        assert self.signed_in is not None
        return self.signed_in


def begin_sign_in(uow: UnitOfWork, data: dict[str, Any]) -> SignInAttempt:
    """Validate, recognise the client's device, and count the attempt (429 beyond a limit).
    Committed before the slow password check, so parallel guesses all see each other."""
    fields = load(SignInSchema(), data)
    email = normalize_email(fields["email"])
    device_id = devices.recognise(uow, fields.get("device_token"), email)
    limits = throttle.sign_in_limits(email, context.current().client_ip, device_id)
    throttle.count(uow, limits, throttle.SIGN_IN_REFUSED)
    return SignInAttempt(email, fields["password"], device_id, tuple(limits))


def finish_sign_in(uow: UnitOfWork, attempt: SignInAttempt) -> SignInOutcome:
    """Check the password; on success a session, and a fresh device token for the client."""
    ctx = context.current()
    user = user_by_email(uow, attempt.email)
    account = credential_of(uow, user.id) if user else None
    stored_hash = account.password if account and account.password else _DUMMY_HASH
    if not verify_password(stored_hash, attempt.password) or user is None:
        uow.audit(
            "session.sign_in_failed",
            "User",
            user.id if user else "unknown",
            None if user else {"email": attempt.email},
        )
        return SignInOutcome(error=Unauthorized("wrong email or password"))
    if user.disabled_at is not None:
        # Only after the right password: a guesser learns nothing about the account.
        throttle.forgive(uow, list(attempt.limits))
        uow.audit("session.sign_in_refused", "User", user.id, {"reason": "disabled"})
        return SignInOutcome(error=Forbidden("account disabled", {"email": ["account disabled"]}))
    if user.email_verified is None:
        throttle.forgive(uow, list(attempt.limits))
        return SignInOutcome(
            error=Forbidden("verify your email address first", {"email": ["not verified"]})
        )
    throttle.signed_in(uow, list(attempt.limits))
    device_token, device_expires_at = devices.remember(uow, user.id, attempt.device_id)
    token = new_secret()
    session = Session(
        user_id=user.id,
        token_hash=secret_hash(token),
        expires_at=utcnow() + settings.session_lifetime(uow),
        ip_address=ctx.client_ip,
        user_agent=ctx.user_agent,
    )
    uow.session.add(session)
    uow.session.flush()
    uow.audit(
        "session.created",
        "Session",
        session.id,
        {"user_id": user.id, "known_device": attempt.device_id is not None},
    )
    return SignInOutcome(
        signed_in={
            "token": token,
            "csrf_token": csrf_token_for(token),
            "expires_at": session.expires_at.isoformat(),
            "device_token": device_token,
            "device_expires_at": device_expires_at.isoformat(),
            "user": UserSchema().dump(user),
        }
    )


def authenticate_session(
    uow: UnitOfWork, token: str, organization_id: str | None = None
) -> dict[str, Any]:
    """Who holds this session token, and their role in `organization_id` if one is named.
    Called by the gateway on every request made with a session (it caches nothing), so a
    deleted session or a disabled user is refused from the next request on."""
    row = uow.session.execute(
        select(Session, User)
        .join(User, User.id == Session.user_id)
        .where(Session.token_hash == secret_hash(token))
    ).first()
    # A disabled user's sessions are deleted when staff disable them; this refuses one a
    # sign-in racing that deletion may have committed just after it.
    if row is None or row.Session.expires_at <= utcnow() or row.User.disabled_at is not None:
        raise Unauthorized("session expired or signed out")
    session, user = row
    role = None
    if organization_id:
        role = uow.session.scalar(
            select(OrganizationMember.role).where(
                OrganizationMember.organization_id == organization_id,
                OrganizationMember.user_id == user.id,
            )
        )
    return {
        "user_id": user.id,
        "email": user.email,
        "is_staff": user.is_admin,
        "session_id": session.id,
        "role": role.value if role else None,
    }


def sign_out(uow: UnitOfWork) -> None:
    ctx = require_user()
    uow.session.execute(delete(Session).where(Session.id == ctx.session_id))
    uow.audit("session.ended", "Session", ctx.session_id or "")


def sign_out_everywhere(uow: UnitOfWork) -> int:
    ctx = require_user()
    ended = uow.session.execute(delete(Session).where(Session.user_id == ctx.actor_id)).rowcount
    uow.audit("session.ended_all", "User", ctx.actor_id or "", {"sessions_ended": ended})
    return ended


def list_sessions(uow: UnitOfWork, query: dict[str, Any]) -> dict[str, Any]:
    """Your sessions that have not expired, newest first."""
    ctx = require_user()
    page = load(PageQuerySchema(), query)
    statement = (
        select(Session)
        .where(Session.user_id == ctx.actor_id, Session.expires_at > utcnow())
        .order_by(Session.created_at.desc(), Session.id)
    )
    return paginate(
        uow.session,
        statement,
        page,
        lambda session: {**SessionSchema().dump(session), "current": session.id == ctx.session_id},
    )
