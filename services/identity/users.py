"""People: sign-up, email verification, passwords."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from services.identity import throttle
from services.identity.events import (
    EmailVerificationRequested,
    PasswordResetRequested,
    SignUpAttempted,
    UserRegistered,
)
from services.identity.models import (
    Account,
    Organization,
    OrganizationMember,
    Session,
    User,
    Verification,
)
from services.identity.passwords import hash_password, verify_password
from services.identity.schemas import (
    ContactLookupSchema,
    ContactSchema,
    EmailSchema,
    OrganizationSchema,
    PasswordChangeSchema,
    PasswordResetSchema,
    SignUpSchema,
    TokenSchema,
    UserSchema,
    UserUpdateSchema,
)
from shared import context
from shared.authorization import require_system, require_user
from shared.clock import utcnow
from shared.errors import NotFound, ValidationFailed
from shared.schemas import load
from shared.tokens import new_secret, secret_hash
from shared.unit_of_work import UnitOfWork

CREDENTIAL_PROVIDER = "credential"
EMAIL_VERIFICATION = "email-verification"
PASSWORD_RESET = "password-reset"
TOKEN_LIFETIMES = {EMAIL_VERIFICATION: timedelta(hours=24), PASSWORD_RESET: timedelta(hours=1)}


def normalize_email(email: str) -> str:
    return email.strip().lower()


def user_by_email(uow: UnitOfWork, email: str) -> User | None:
    return uow.session.scalar(select(User).where(User.email == normalize_email(email)))


def credential_of(uow: UnitOfWork, user_id: str) -> Account | None:
    return uow.session.scalar(
        select(Account).where(
            Account.user_id == user_id, Account.provider_id == CREDENTIAL_PROVIDER
        )
    )


def create_user(uow: UnitOfWork, user: User, password: str) -> User:
    """A user who signs in with email and password (argon2id hash only)."""
    return _add_user(uow, user, hash_password(password))


def _add_user(uow: UnitOfWork, user: User, password_hash: str) -> User:
    uow.session.add(user)
    uow.session.flush()
    uow.session.add(
        Account(
            user_id=user.id,
            account_id=user.id,
            provider_id=CREDENTIAL_PROVIDER,
            password=password_hash,
        )
    )
    uow.session.flush()
    return user


def sign_up(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """A new account and its verification email; or, if the email has an account already,
    an email telling its owner. The caller cannot tell which: same answer, and about as
    fast (the password is hashed either way)."""
    fields = load(SignUpSchema(), data)
    email = normalize_email(fields["email"])
    _count_email_request(uow)
    password_hash = hash_password(fields["password"])
    user = _register(uow, User(email=email, name=fields.get("name")), password_hash)
    if user is None:
        _warn_owner(uow, email)
        return
    uow.audit("user.registered", "User", user.id, {"email": email})
    uow.emit(UserRegistered(user_id=user.id, email=email, name=user.name))


def _register(uow: UnitOfWork, user: User, password_hash: str) -> User | None:
    """The new user, or None if the email has an account (also one a concurrent sign-up
    made a moment ago: the unique email refuses the second, in a savepoint)."""
    if user_by_email(uow, user.email) is not None:
        return None
    try:
        with uow.session.begin_nested():
            return _add_user(uow, user, password_hash)
    except IntegrityError:
        return None


def _warn_owner(uow: UnitOfWork, email: str) -> None:
    """Tell the owner someone tried to sign up with their address (at most once an hour,
    so a sign-up loop cannot flood their inbox)."""
    owner = user_by_email(uow, email)
    if owner is None:
        return
    uow.audit("user.sign_up_attempted", "User", owner.id)
    if throttle.admits(uow, throttle.warning_limit(owner.id)):
        uow.emit(SignUpAttempted(user_id=owner.id, email=owner.email))


def issue_token(uow: UnitOfWork, user_id: str, purpose: str) -> dict[str, Any] | None:
    """A fresh one-time token for an emailed link (notifications asks, right before it
    sends the mail, so the token exists in plain text only in that mail). Earlier tokens
    for the same purpose stop working. None when there is nothing to do."""
    require_system()
    user = uow.session.get(User, user_id)
    if user is None or (purpose == EMAIL_VERIFICATION and user.email_verified is not None):
        return None
    identifier = f"{purpose}:{user.id}"
    uow.session.execute(delete(Verification).where(Verification.identifier == identifier))
    token = new_secret()
    uow.session.add(
        Verification(
            identifier=identifier,
            value=secret_hash(token),
            expires_at=utcnow() + TOKEN_LIFETIMES[purpose],
        )
    )
    return {"token": token, "email": user.email, "name": user.name}


def _redeem(uow: UnitOfWork, token: str, purpose: str) -> User:
    verification = uow.session.scalar(
        select(Verification).where(Verification.value == secret_hash(token))
    )
    if (
        verification is None
        or not verification.identifier.startswith(f"{purpose}:")
        or verification.expires_at <= utcnow()
    ):
        raise ValidationFailed("invalid or expired token", {"token": ["invalid or expired"]})
    user = uow.session.get(User, verification.identifier.split(":", 1)[1])
    uow.session.delete(verification)
    if user is None:
        raise ValidationFailed("invalid or expired token", {"token": ["invalid or expired"]})
    return user


def verify_email(uow: UnitOfWork, data: dict[str, Any]) -> dict[str, Any]:
    user = _redeem(uow, load(TokenSchema(), data)["token"], EMAIL_VERIFICATION)
    user.email_verified = utcnow()
    uow.audit("user.email_verified", "User", user.id)
    return UserSchema().dump(user)


RESEND_INTERVAL = timedelta(minutes=1)


def _count_email_request(uow: UnitOfWork) -> None:
    """One more email-sending request from the caller's address (429 beyond the limit)."""
    limits = throttle.email_request_limits(context.current().client_ip)
    throttle.count(uow, limits, throttle.EMAIL_REQUESTS_REFUSED)


def request_verification_email(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """Another verification link, for an unverified account; at most one a minute. Same
    answer whatever the address, so no one learns which have accounts."""
    email = load(EmailSchema(), data)["email"]
    _count_email_request(uow)
    user = user_by_email(uow, email)
    if user is None or user.email_verified is not None:
        return
    latest = uow.session.scalar(
        select(func.max(Verification.created_at)).where(
            Verification.identifier == f"{EMAIL_VERIFICATION}:{user.id}"
        )
    )
    if latest is not None and latest > utcnow() - RESEND_INTERVAL:
        return
    uow.audit("user.verification_requested", "User", user.id)
    uow.emit(EmailVerificationRequested(user_id=user.id, email=user.email))


def request_password_reset(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """Same answer whether or not the email has an account: no one learns which do."""
    email = load(EmailSchema(), data)["email"]
    _count_email_request(uow)
    user = user_by_email(uow, email)
    if user is not None and credential_of(uow, user.id) is not None:
        uow.audit("user.password_reset_requested", "User", user.id)
        uow.emit(PasswordResetRequested(user_id=user.id, email=user.email))


def end_sessions(uow: UnitOfWork, user_id: str, keep_session_id: str | None = None) -> int:
    """Delete the user's sessions (all but `keep_session_id`): the gateway asks identity
    about every request's session, so each deleted one stops working at once."""
    statement = delete(Session).where(Session.user_id == user_id)
    if keep_session_id:
        statement = statement.where(Session.id != keep_session_id)
    return uow.session.execute(statement).rowcount


def reset_password(uow: UnitOfWork, data: dict[str, Any]) -> None:
    fields = load(PasswordResetSchema(), data)
    user = _redeem(uow, fields["token"], PASSWORD_RESET)
    account = credential_of(uow, user.id)
    if account is None:
        raise ValidationFailed("invalid or expired token", {"token": ["invalid or expired"]})
    account.password = hash_password(fields["password"])
    # Whoever reset it also proved they own the email address.
    user.email_verified = user.email_verified or utcnow()
    ended = end_sessions(uow, user.id)
    uow.audit("user.password_reset", "User", user.id, {"sessions_ended": ended})


def change_password(uow: UnitOfWork, data: dict[str, Any]) -> None:
    ctx = require_user()
    fields = load(PasswordChangeSchema(), data)
    account = credential_of(uow, ctx.actor_id or "")
    if account is None or not verify_password(account.password or "", fields["current_password"]):
        raise ValidationFailed("wrong password", {"current_password": ["wrong password"]})
    account.password = hash_password(fields["new_password"])
    ended = end_sessions(uow, account.user_id, keep_session_id=ctx.session_id)
    uow.audit("user.password_changed", "User", account.user_id, {"sessions_ended": ended})


def contact_addresses(uow: UnitOfWork, user_ids: list[str]) -> list[dict[str, Any]]:
    """The address and name of each of these users that still exists, in the order asked
    (the suite only: notifications writing to a ticket's participants). A user gone since
    is left out, not an error: there is nobody to write to."""
    require_system()
    wanted = list(dict.fromkeys(load(ContactLookupSchema(), {"user_ids": user_ids})["user_ids"]))
    found = {user.id: user for user in uow.session.scalars(select(User).where(User.id.in_(wanted)))}
    return [ContactSchema().dump(found[user_id]) for user_id in wanted if user_id in found]


def get_me(uow: UnitOfWork) -> dict[str, Any]:
    ctx = require_user()
    user = uow.session.get(User, ctx.actor_id)
    if user is None:
        raise NotFound("user not found")
    rows = uow.session.execute(
        select(Organization, OrganizationMember.role)
        .join(OrganizationMember, OrganizationMember.organization_id == Organization.id)
        .where(OrganizationMember.user_id == user.id)
        .order_by(Organization.name)
    ).all()
    me = UserSchema().dump(user)
    me["organizations"] = [
        {**OrganizationSchema().dump(org), "role": role.value} for org, role in rows
    ]
    return me


def update_me(uow: UnitOfWork, data: dict[str, Any]) -> dict[str, Any]:
    """Change your own name and image (null clears either); answers as `get_me`."""
    ctx = require_user()
    fields = load(UserUpdateSchema(), data)
    user = uow.session.get(User, ctx.actor_id)
    if user is None:
        raise NotFound("user not found")
    changed = sorted(name for name, value in fields.items() if getattr(user, name) != value)
    for name in changed:
        setattr(user, name, fields[name])
    if changed:
        uow.audit("user.updated", "User", user.id, {"fields": changed})
    return get_me(uow)
