"""Identity's settings: a session's and an invitation's lifetime are what staff set when
the session begins or the invitation is sent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from services.identity import settings
from services.identity.models import Invitation, Session
from services.identity.tests.helpers import (
    UnitOfWorkFactory,
    as_user,
    make_organization,
    make_person,
    sign_in,
)
from services.identity.tests.test_members import invite
from shared.clock import utcnow
from shared.errors import ValidationFailed


@pytest.fixture
def staff(unit_of_work: UnitOfWorkFactory) -> Iterator[str]:
    """A staff user's id; every identity setting back to its default afterwards."""
    agent = make_person(unit_of_work, is_staff=True)
    yield agent.id
    with as_user(agent, is_staff=True), unit_of_work("identity") as uow:
        settings.DECLARED.change(uow, dict.fromkeys(settings.DECLARED.declared))


def close_to(moment: datetime, expected: datetime) -> bool:
    return abs(moment - expected) < timedelta(minutes=1)


def test_sessions_and_invitations_last_as_long_as_staff_set(
    unit_of_work: UnitOfWorkFactory, staff: str
) -> None:
    owner = make_person(unit_of_work)
    organization_id = make_organization(unit_of_work, owner)
    with unit_of_work("identity") as uow:
        assert settings.session_lifetime(uow) == timedelta(days=7)
    with as_user(staff, is_staff=True), unit_of_work("identity") as uow:
        settings.DECLARED.change(
            uow, {settings.SESSION_LIFETIME_DAYS: 2, settings.INVITATION_LIFETIME_DAYS: 3}
        )
    session_id = sign_in(unit_of_work, owner)["session_id"]
    invitation_id = invite(unit_of_work, organization_id, owner, make_person(unit_of_work).email)
    with unit_of_work("identity") as uow:
        session = uow.session.get(Session, session_id)
        invitation = uow.session.get(Invitation, invitation_id)
        assert session is not None and invitation is not None
        assert close_to(session.expires_at, utcnow() + timedelta(days=2))
        assert close_to(invitation.expires_at, utcnow() + timedelta(days=3))


@pytest.mark.parametrize("days", [0, 91, "7", 7.5])
def test_a_session_lifetime_out_of_bounds_is_refused(
    unit_of_work: UnitOfWorkFactory, staff: str, days: object
) -> None:
    with (
        as_user(staff, is_staff=True),
        pytest.raises(ValidationFailed) as refused,
        unit_of_work("identity") as uow,
    ):
        settings.DECLARED.change(uow, {settings.SESSION_LIFETIME_DAYS: days})
    assert list(refused.value.fields) == [settings.SESSION_LIFETIME_DAYS]
