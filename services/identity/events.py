"""The events identity publishes, and `api_keys.used`, which identity reads from the gateway
(kept here, where the gateway can import it without importing identity). Contracts only:
this module imports nothing but `shared.events` (see there)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import Event, Timestamp


class IdentityEvent(Event):
    source = "identity"


@dataclass(frozen=True, kw_only=True)
class OrganizationCreated(IdentityEvent):
    """An organization is created; its creator is its OWNER."""

    event_type = "organization.created"

    organization_id: str
    name: str
    slug: str
    email: str
    owner_user_id: str


@dataclass(frozen=True, kw_only=True)
class OrganizationUpdated(IdentityEvent):
    """An organization's details change."""

    event_type = "organization.updated"

    organization_id: str
    name: str
    email: str


@dataclass(frozen=True, kw_only=True)
class OrganizationDeleted(IdentityEvent):
    """An OWNER deletes an organization (with its members, invitations and API keys)."""

    event_type = "organization.deleted"

    organization_id: str


@dataclass(frozen=True, kw_only=True)
class UserRegistered(IdentityEvent):
    """Someone signs up with a new email address."""

    event_type = "user.registered"

    user_id: str
    email: str
    name: str | None


@dataclass(frozen=True, kw_only=True)
class UserDisabled(IdentityEvent):
    """Staff disable a user: their sessions are already deleted and no new one starts
    until they are enabled again (their organizations' API keys keep working)."""

    event_type = "user.disabled"

    user_id: str


@dataclass(frozen=True, kw_only=True)
class UserEnabled(IdentityEvent):
    """Staff enable a disabled user again: they may sign in."""

    event_type = "user.enabled"

    user_id: str


@dataclass(frozen=True, kw_only=True)
class SignUpAttempted(IdentityEvent):
    """Someone signs up with an address that has an account (at most once an hour per
    account)."""

    event_type = "user.sign_up_attempted"

    user_id: str
    email: str


@dataclass(frozen=True, kw_only=True)
class EmailVerificationRequested(IdentityEvent):
    """Another verification link is asked for an unverified account (at most one a
    minute)."""

    event_type = "email_verification.requested"

    user_id: str
    email: str


@dataclass(frozen=True, kw_only=True)
class PasswordResetRequested(IdentityEvent):
    """A password reset is asked for a known email address."""

    event_type = "password_reset.requested"

    user_id: str
    email: str


@dataclass(frozen=True, kw_only=True)
class InvitationCreated(IdentityEvent):
    """Someone is invited to an organization."""

    event_type = "invitation.created"

    invitation_id: str
    organization_id: str
    organization_name: str
    email: str
    role: str


@dataclass(frozen=True, kw_only=True)
class MemberAdded(IdentityEvent):
    """An invitation is accepted: the person is a member."""

    event_type = "member.added"

    organization_id: str
    user_id: str
    role: str


@dataclass(frozen=True, kw_only=True)
class MemberRemoved(IdentityEvent):
    """A member is removed from an organization."""

    event_type = "member.removed"

    organization_id: str
    user_id: str


@dataclass(frozen=True, kw_only=True)
class ApiKeyRevoked(IdentityEvent):
    """An API key is revoked, or its organization deleted."""

    event_type = "api_key.revoked"

    api_key_id: str
    organization_id: str


@dataclass(frozen=True, kw_only=True)
class ApiKeysUsed(Event):
    """Every 10 s, if API keys were used: when each was last used. Sent directly, not through
    an outbox: a lost batch only leaves `lastUsedAt` a little older."""

    source = "gateway"
    event_type = "api_keys.used"

    last_used: dict[str, Timestamp]
