"""What the notifications tests share: the email as its recipients get it, stand-ins for
the services notifications asks, and a store on the test database."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from unittest.mock import Mock

from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from services.notifications.emails import Email, with_token
from services.notifications.templates import TEMPLATES, Rendered
from shared.unit_of_work import UnitOfWork

ORGANIZATION = {"id": "org-1", "name": "Acme Stores", "email": "ops@acme.co.zw"}
OWNER = {"email": "tendai@acme.co.zw", "name": "Tendai Moyo", "role": "OWNER"}
BOOKKEEPER = {"email": "rudo@acme.co.zw", "name": None, "role": "BILLING"}


def as_sent(email: Email) -> Rendered:
    """Subject and both parts as they go to SMTP: the token in the links."""
    rendered = TEMPLATES[email.template].render(email.values)
    token = email.token.value if email.token else None
    return Rendered(
        rendered.subject, with_token(rendered.text, token), with_token(rendered.html, token)
    )


def rendered(email: Email) -> tuple[str, str]:
    """Subject and plain-text part as sent."""
    sent = as_sent(email)
    return sent.subject, sent.text


def contacts(*people: dict[str, str | None], organization: dict | None = None) -> dict:
    """identity's billing_contacts answer."""
    return {"organization": organization or ORGANIZATION, "people": list(people)}


def identity(*people: dict[str, str | None]) -> Mock:
    """Stands in for identity: organization org-1 with these OWNER/BILLING people."""
    found = Mock()
    found.billing_contacts.return_value = contacts(*people)
    found.get_organization.return_value = ORGANIZATION
    return found


def handled_events(service: type) -> set[tuple[str, str]]:
    return {
        (entrypoint.source_service, entrypoint.event_type)
        for attribute in vars(service).values()
        for entrypoint in getattr(attribute, ENTRYPOINT_EXTENSIONS_ATTR, ())
        if hasattr(entrypoint, "event_type")
    }


class Store:
    """The service's `db` on the test database."""

    def __init__(self, unit_of_work: Callable[[str], AbstractContextManager[UnitOfWork]]) -> None:
        self.unit_of_work = unit_of_work

    def transaction(self) -> AbstractContextManager[UnitOfWork]:
        return self.unit_of_work("notifications")
