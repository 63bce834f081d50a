"""Identity's tables (seed: Organization, User, OrganizationMember, Session, Account,
Verification, ApiKey). Secrets are stored only as hashes: `Session.token_hash`,
`Verification.value` (a hash of the emailed token), `ApiKey.key_hash`,
`KnownDevice.token_hash`, `Account.password` (argon2id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.authorization import MemberRole
from shared.db import (
    CUID_LENGTH,
    TYPE_ANNOTATION_MAP,
    defaults_to_now,
    enum_type,
    id_column,
    service_metadata,
    standard_tables,
    updated_at_column,
)


class Base(DeclarativeBase):
    metadata = service_metadata("identity")
    type_annotation_map = TYPE_ANNOTATION_MAP


tables = standard_tables(Base)


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = id_column()
    name: Mapped[str]
    slug: Mapped[str] = mapped_column(unique=True, index=True)
    email: Mapped[str] = mapped_column(index=True)
    phone: Mapped[str | None]
    address: Mapped[str | None]
    city: Mapped[str | None]
    country: Mapped[str] = mapped_column(default="Zimbabwe", server_default="Zimbabwe")
    created_at: Mapped[datetime] = defaults_to_now()
    updated_at: Mapped[datetime] = updated_at_column()

    members: Mapped[list[OrganizationMember]] = relationship(
        back_populates="organization", cascade="all, delete-orphan", passive_deletes=True
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = id_column()
    email: Mapped[str] = mapped_column(unique=True, index=True)
    name: Mapped[str | None]
    email_verified: Mapped[datetime | None]
    image: Mapped[str | None]
    # CVT internal staff; set only by the ops seed/command, never by sign-up.
    is_admin: Mapped[bool] = mapped_column(default=False, server_default="false")
    # Set by staff: no sign-in, no session, until enabled again. API keys are the
    # organization's, not the user's, so they keep working.
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = defaults_to_now()
    updated_at: Mapped[datetime] = updated_at_column()


class OrganizationMember(Base):
    __tablename__ = "organization_members"
    __table_args__ = (UniqueConstraint("organization_id", "user_id"),)

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[MemberRole] = mapped_column(
        enum_type(MemberRole), default=MemberRole.MEMBER, server_default=MemberRole.MEMBER.value
    )
    created_at: Mapped[datetime] = defaults_to_now()
    updated_at: Mapped[datetime] = updated_at_column()

    organization: Mapped[Organization] = relationship(back_populates="members")


class Session(Base):
    __tablename__ = "sessions"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The seed's `token`, stored as a SHA-256 hex digest: a dump lets no one sign in.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    expires_at: Mapped[datetime]
    ip_address: Mapped[str | None]
    user_agent: Mapped[str | None]
    created_at: Mapped[datetime] = defaults_to_now()
    updated_at: Mapped[datetime] = updated_at_column()


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("provider_id", "account_id"),)

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[str]
    provider_id: Mapped[str]
    access_token: Mapped[str | None]
    refresh_token: Mapped[str | None]
    access_token_expires_at: Mapped[datetime | None]
    refresh_token_expires_at: Mapped[datetime | None]
    scope: Mapped[str | None]
    id_token: Mapped[str | None]
    # argon2id hash for providerId "credential".
    password: Mapped[str | None]
    created_at: Mapped[datetime] = defaults_to_now()
    updated_at: Mapped[datetime] = updated_at_column()


class Verification(Base):
    __tablename__ = "verifications"

    id: Mapped[str] = id_column()
    identifier: Mapped[str] = mapped_column(index=True)
    value: Mapped[str]
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = defaults_to_now()
    updated_at: Mapped[datetime] = updated_at_column()


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str]
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(8), index=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String), default=list, server_default="{}")
    is_active: Mapped[bool] = mapped_column(default=True, server_default="true", index=True)
    rate_limit: Mapped[int] = mapped_column(default=1000, server_default="1000")
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = defaults_to_now()
    updated_at: Mapped[datetime] = updated_at_column()


class Invitation(Base):
    """An invitation to join an organization (not in the seed; better-auth's organization
    plugin has the same table). The emailed token is stored only as a hash."""

    __tablename__ = "invitations"

    id: Mapped[str] = id_column()
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(index=True)
    role: Mapped[MemberRole] = mapped_column(enum_type(MemberRole))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = defaults_to_now()
    updated_at: Mapped[datetime] = updated_at_column()


class KnownDevice(Base):
    """A browser or app that has signed in as this user before (OWASP's device cookie). Its
    token lifts the per-address sign-in limit for this user only; it is no credential."""

    __tablename__ = "known_devices"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = defaults_to_now()
    updated_at: Mapped[datetime] = updated_at_column()


class SignInThrottle(Base):
    """Attempts per key in a fixed window (see `throttle`): sign-ins per "email:", "ip:" or
    "device:", email-sending requests per "mail-ip:", sign-up warnings per "warned:"."""

    __tablename__ = "sign_in_throttles"

    key: Mapped[str] = mapped_column(primary_key=True)
    window_started_at: Mapped[datetime]
    failures: Mapped[int] = mapped_column(default=0, server_default="0")


class DepartedOrganization(Base):
    """Whom a deleted organization's billing mail still goes to — its final invoice, the
    receipt if it is paid by its link: the address and the OWNER and BILLING members it
    had when it was deleted. The organization, its members and their memberships are
    gone; this is all identity keeps of it."""

    __tablename__ = "departed_organizations"

    organization_id: Mapped[str] = mapped_column(String(CUID_LENGTH), primary_key=True)
    # As `members.billing_contacts` answered for it then (BillingContactsSchema).
    billing_contacts: Mapped[dict[str, Any]]
    deleted_at: Mapped[datetime] = defaults_to_now()
