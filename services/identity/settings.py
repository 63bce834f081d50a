"""Identity's settings: how long a sign-in session and an invitation last.

A new lifetime applies to sessions begun and invitations sent from then on: each one's
expiry is fixed when it is made. `make seed` writes the defaults into the table.
"""

from __future__ import annotations

from datetime import timedelta

from shared.settings import Declared, Kind, ServiceSettings
from shared.unit_of_work import UnitOfWork

SESSION_LIFETIME_DAYS = "session.lifetime_days"
INVITATION_LIFETIME_DAYS = "invitation.lifetime_days"

DECLARED = ServiceSettings(
    "identity",
    [
        Declared(
            SESSION_LIFETIME_DAYS,
            Kind.INTEGER,
            "Days a sign-in session lasts (sessions begun from now on)",
            "7",
            minimum=1,
            maximum=90,
        ),
        Declared(
            INVITATION_LIFETIME_DAYS,
            Kind.INTEGER,
            "Days an invitation to an organization can be accepted (invitations sent from now on)",
            "7",
            minimum=1,
            maximum=30,
        ),
    ],
)
# What `make seed` writes into the table.
DEFAULTS: dict[str, str] = DECLARED.fixed_defaults()


def session_lifetime(uow: UnitOfWork) -> timedelta:
    return timedelta(days=int(DECLARED.value(uow, SESSION_LIFETIME_DAYS)))


def invitation_lifetime(uow: UnitOfWork) -> timedelta:
    return timedelta(days=int(DECLARED.value(uow, INVITATION_LIFETIME_DAYS)))
