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
from shared.money import format_cents


def link(path: str, token: str | None = None) -> str:
    query = f"?{urlencode({'token': token})}" if token else ""
    return f"{config.APP_URL.get().rstrip('/')}/{path}{query}"


class NotificationsService(ServiceBase):
    name = "notifications"
    db = Database("notifications", tables)
    mailer = Mailer()
    identity = RpcProxy("identity")

    @event_handler("identity", "email_verification.requested")
    def resend_verification_email(self, payload: dict[str, Any]) -> None:
        self.send_verification_email(payload)

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

    @event_handler("identity", "user.sign_up_attempted")
    def send_sign_up_attempted_email(self, payload: dict[str, Any]) -> None:
        """The owner of a taken address learns someone tried to sign up with it; the link
        lets them choose a new password if it was them and they forgot it."""

        def compose() -> Email | None:
            issued = self.identity.issue_email_token(payload["user_id"], "password-reset")
            if issued is None:
                return None  # the account is gone
            values = {
                "name": issued["name"] or issued["email"],
                "link": link("reset-password", issued["token"]),
            }
            return Email("sign-up-attempted", issued["email"], values, "User", payload["user_id"])

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

    def _to_organization(
        self, payload: dict[str, Any], template: str, values: dict[str, str], entity: str
    ) -> None:
        """An email to the organization's contact address (asked from identity)."""

        def compose() -> Email:
            organization = self.identity.get_organization(payload["organization_id"])
            return Email(
                template,
                organization["email"],
                {"organization": organization["name"], **values},
                entity,
                payload.get("invoice_id") or payload["billing_account_id"],
            )

        send_once(self.db, self.mailer.send, payload["event_id"], compose)

    @event_handler("billing", "invoice.issued")
    def send_invoice_email(self, payload: dict[str, Any]) -> None:
        values = {
            "number": payload["invoice_number"],
            "total": format_cents(payload["total"]),
            "amount_due": format_cents(payload["amount_due"]),
            "due": payload["due_at"][:10],
            "link": link("pay", payload["payment_token"]),
        }
        self._to_organization(payload, "invoice-issued", values, "Invoice")

    @event_handler("billing", "invoice.paid")
    def send_receipt_email(self, payload: dict[str, Any]) -> None:
        values = {
            "number": payload["invoice_number"],
            "amount": format_cents(payload["amount_paid"]),
        }
        self._to_organization(payload, "invoice-paid", values, "Invoice")

    @event_handler("billing", "billing_account.overdue")
    def send_overdue_warning(self, payload: dict[str, Any]) -> None:
        self._to_organization(
            payload, "account-overdue", {"link": link("invoices")}, "BillingAccount"
        )

    @event_handler("billing", "billing_account.suspended")
    def send_suspension_notice(self, payload: dict[str, Any]) -> None:
        self._to_organization(
            payload, "account-suspended", {"link": link("invoices")}, "BillingAccount"
        )
