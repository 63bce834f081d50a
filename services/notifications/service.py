"""Notifications' entrypoints: one handler per event that someone must hear about by email.
Tokens for emailed links are asked from identity right before sending, so they exist in
plain text only in the email itself."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from nameko.rpc import RpcProxy

from services.notifications.emails import Email, send_once
from services.notifications.mailer import Mailer
from services.notifications.models import tables
from shared import config
from shared.dependencies import Database
from shared.entrypoints import ServiceBase, event_handler


def link(path: str, token: str) -> str:
    return f"{config.APP_URL.get().rstrip('/')}/{path}?{urlencode({'token': token})}"


class NotificationsService(ServiceBase):
    name = "notifications"
    db = Database("notifications", tables)
    mailer = Mailer()
    identity = RpcProxy("identity")

    @event_handler("identity", "user.registered")
    def send_verification_email(self, payload: dict[str, Any]) -> None:
        def compose() -> Email | None:
            issued = self.identity.issue_email_token(payload["user_id"], "email-verification")
            if issued is None:
                return None  # already verified
            values = {
                "name": issued["name"] or issued["email"],
                "link": link("verify-email", issued["token"]),
            }
            return Email("verify-email", issued["email"], values, "User", payload["user_id"])

        send_once(self.db, self.mailer.send, payload["event_id"], compose)

    @event_handler("identity", "password_reset.requested")
    def send_password_reset_email(self, payload: dict[str, Any]) -> None:
        def compose() -> Email | None:
            issued = self.identity.issue_email_token(payload["user_id"], "password-reset")
            if issued is None:
                return None
            values = {"link": link("reset-password", issued["token"])}
            return Email("password-reset", issued["email"], values, "User", payload["user_id"])

        send_once(self.db, self.mailer.send, payload["event_id"], compose)

    @event_handler("identity", "invitation.created")
    def send_invitation_email(self, payload: dict[str, Any]) -> None:
        def compose() -> Email | None:
            issued = self.identity.issue_invitation_token(payload["invitation_id"])
            if issued is None:
                return None  # accepted, revoked or expired meanwhile
            values = {
                "organization": payload["organization_name"],
                "role": payload["role"],
                "link": link("accept-invitation", issued["token"]),
            }
            return Email(
                "invitation", issued["email"], values, "Invitation", payload["invitation_id"]
            )

        send_once(self.db, self.mailer.send, payload["event_id"], compose)
