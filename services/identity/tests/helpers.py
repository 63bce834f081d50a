"""Building blocks for identity's domain tests: who is calling, and the people and
organizations they act on. The database is shared by the whole run, so every email and
slug made here is unique."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, func, select

from services.identity import organizations, sessions, users
from services.identity.models import OrganizationMember
from shared import context
from shared.authorization import MemberRole
from shared.clock import utcnow
from shared.unit_of_work import UnitOfWork

UnitOfWorkFactory = Callable[[str], AbstractContextManager[UnitOfWork]]

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Person:
    id: str
    email: str
    password: str = PASSWORD


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}"


def unique_email(label: str = "person") -> str:
    return f"{unique(label)}@example.co.zw"


@contextmanager
def acting_as(ctx: context.CallContext) -> Iterator[context.CallContext]:
    """Bind `ctx` as the caller for the block, as the service's worker would; the caller
    before it (the default one, outside any block) is bound again afterwards."""
    previous = context.current()
    context.bind(ctx)
    try:
        yield ctx
    finally:
        context.bind(previous)


def as_user(
    person: Person | str,
    organization_id: str | None = None,
    role: MemberRole | str | None = None,
    *,
    session_id: str | None = None,
    is_staff: bool = False,
) -> AbstractContextManager[context.CallContext]:
    """A signed-in person; organization and role as the gateway would set them."""
    user_id = person.id if isinstance(person, Person) else person
    return acting_as(
        context.CallContext(
            actor_type=context.USER,
            actor_id=user_id,
            is_staff=is_staff,
            organization_id=organization_id,
            role=str(role) if role is not None else None,
            session_id=session_id,
        )
    )


def as_anonymous() -> AbstractContextManager[context.CallContext]:
    return acting_as(context.CallContext(actor_type=context.ANONYMOUS))


def as_system() -> AbstractContextManager[context.CallContext]:
    return acting_as(context.CallContext(actor_type=context.SYSTEM))


def make_person(
    unit_of_work: UnitOfWorkFactory,
    *,
    email: str | None = None,
    password: str = PASSWORD,
    verified: bool = True,
    is_staff: bool = False,
) -> Person:
    """A user signed up the ordinary way (verified unless told otherwise)."""
    email = email or unique_email()
    with as_anonymous(), unit_of_work("identity") as uow:
        users.sign_up(uow, {"email": email, "password": password})
        user = users.user_by_email(uow, email)
        assert user is not None
        if verified:
            user.email_verified = utcnow()
        user.is_admin = is_staff
        user_id = user.id
    return Person(id=user_id, email=email, password=password)


def make_organization(unit_of_work: UnitOfWorkFactory, owner: Person) -> str:
    """An organization created by `owner`, who is its OWNER."""
    name = unique("Org")
    with as_user(owner), unit_of_work("identity") as uow:
        return organizations.create_organization(uow, {"name": name, "email": unique_email("org")})[
            "id"
        ]


def add_member(
    unit_of_work: UnitOfWorkFactory, organization_id: str, role: MemberRole
) -> tuple[Person, str]:
    """A new person who is already a member with `role`; returns them and the member id."""
    person = make_person(unit_of_work)
    with unit_of_work("identity") as uow:
        member = OrganizationMember(organization_id=organization_id, user_id=person.id, role=role)
        uow.session.add(member)
        uow.session.flush()
        return person, member.id


def member_id_of(uow: UnitOfWork, organization_id: str, user_id: str) -> str | None:
    return uow.session.scalar(
        select(OrganizationMember.id).where(
            OrganizationMember.organization_id == organization_id,
            OrganizationMember.user_id == user_id,
        )
    )


def role_of(uow: UnitOfWork, organization_id: str, user_id: str) -> MemberRole | None:
    return uow.session.scalar(
        select(OrganizationMember.role).where(
            OrganizationMember.organization_id == organization_id,
            OrganizationMember.user_id == user_id,
        )
    )


def attempt_sign_in(
    unit_of_work: UnitOfWorkFactory,
    email: str,
    password: str,
    *,
    ip: str | None = None,
    device_token: str | None = None,
) -> sessions.SignInOutcome:
    """One anonymous sign-in attempt from address `ip`, in the service's two transactions
    (RateLimited is raised by the first)."""
    data = {"email": email, "password": password}
    if device_token is not None:
        data["device_token"] = device_token
    caller = context.CallContext(actor_type=context.ANONYMOUS, client_ip=ip)
    with acting_as(caller):
        with unit_of_work("identity") as uow:
            attempt = sessions.begin_sign_in(uow, data)
        with unit_of_work("identity") as uow:
            return sessions.finish_sign_in(uow, attempt)


def sign_in(unit_of_work: UnitOfWorkFactory, person: Person) -> dict[str, Any]:
    """A fresh session for `person`: the token and the session's id."""
    signed_in = attempt_sign_in(unit_of_work, person.email, person.password).result()
    with unit_of_work("identity") as uow:
        session_id = sessions.authenticate_session(uow, signed_in["token"])["session_id"]
    return {**signed_in, "session_id": session_id}


def events(uow: UnitOfWork, key: str, value: str) -> list[str]:
    """Types of the outbox events whose payload has `key` equal to `value`, oldest first."""
    outbox = uow.tables.outbox_message
    return list(
        uow.session.scalars(
            select(outbox.event_type)
            .where(outbox.payload[key].as_string() == value)
            .order_by(outbox.created_at)
        ).all()
    )


def audit_actions(uow: UnitOfWork, entity_id: str) -> list[str]:
    audit = uow.tables.audit_log
    return list(
        uow.session.scalars(
            select(audit.action).where(audit.entity_id == entity_id).order_by(audit.timestamp)
        ).all()
    )


def text_occurrences(uow: UnitOfWork, needle: str) -> int:
    """How many audit rows and outbox messages mention `needle` anywhere in their data."""
    audit = uow.tables.audit_log
    outbox = uow.tables.outbox_message
    in_audit = uow.session.scalar(
        select(func.count()).where(cast(audit.metadata_, String).contains(needle))
    )
    in_outbox = uow.session.scalar(
        select(func.count()).where(
            cast(outbox.payload, String).contains(needle)
            | cast(outbox.headers, String).contains(needle)
        )
    )
    return in_audit + in_outbox
