"""Which email each event sends, to whom, with what in it.

Tokens for emailed links are asked right before sending (from identity; an invoice's payment
link from billing), so they exist in plain text only in the email itself: no event and no
outbox row holds one. `identity` and `billing` are the services' RPC proxies, called as the
suite itself (event handlers run as SYSTEM).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from services.billing.events import (
    BillingAccountOverdue,
    BillingAccountSuspended,
    InvoiceIssued,
    InvoicePaid,
)
from services.identity.events import (
    EmailVerificationRequested,
    InvitationCreated,
    PasswordResetRequested,
    SignUpAttempted,
    UserRegistered,
)
from services.notifications.emails import Email
from shared import config
from shared.errors import NotFound
from shared.money import format_cents


def link(path: str, token: str | None = None) -> str:
    query = f"?{urlencode({'token': token})}" if token else ""
    return f"{config.APP_URL.get().rstrip('/')}/{path}{query}"


def verification_email(
    identity: Any, event: UserRegistered | EmailVerificationRequested
) -> Email | None:
    issued = identity.issue_email_token(event.user_id, "email-verification")
    if issued is None:
        return None  # already verified
    values = {
        "name": issued["name"] or issued["email"],
        "link": link("verify-email", issued["token"]),
    }
    return Email("verify-email", issued["email"], values, "User", event.user_id)


def password_reset_email(identity: Any, event: PasswordResetRequested) -> Email | None:
    issued = identity.issue_email_token(event.user_id, "password-reset")
    if issued is None:
        return None
    values = {"link": link("reset-password", issued["token"])}
    return Email("password-reset", issued["email"], values, "User", event.user_id)


def sign_up_attempted_email(identity: Any, event: SignUpAttempted) -> Email | None:
    """The owner of a taken address learns someone tried to sign up with it; the link lets
    them choose a new password if it was them and they forgot it."""
    issued = identity.issue_email_token(event.user_id, "password-reset")
    if issued is None:
        return None  # the account is gone
    values = {
        "name": issued["name"] or issued["email"],
        "link": link("reset-password", issued["token"]),
    }
    return Email("sign-up-attempted", issued["email"], values, "User", event.user_id)


def invitation_email(identity: Any, event: InvitationCreated) -> Email | None:
    issued = identity.issue_invitation_token(event.invitation_id)
    if issued is None:
        return None  # accepted, revoked or expired meanwhile
    values = {
        "organization": event.organization_name,
        "role": event.role,
        "link": link("accept-invitation", issued["token"]),
    }
    return Email("invitation", issued["email"], values, "Invitation", event.invitation_id)


def _to_organization(
    identity: Any,
    organization_id: str,
    template: str,
    values: dict[str, str],
    entity: tuple[str, str],
) -> Email | None:
    """An email to the organization's contact address (asked from identity); none once
    the organization is deleted: there is nobody left to tell."""
    try:
        organization = identity.get_organization(organization_id)
    except NotFound:
        return None
    values = {"organization": organization["name"], **values}
    return Email(template, organization["email"], values, *entity)


def invoice_email(identity: Any, billing: Any, event: InvoiceIssued) -> Email | None:
    token = billing.payment_token(event.invoice_id)
    if token is None:
        return None  # voided meanwhile
    values = {
        "number": event.invoice_number,
        "total": format_cents(event.total),
        "amount_due": format_cents(event.amount_due),
        "due": event.due_at[:10],
        "link": link("pay", token),
    }
    entity = ("Invoice", event.invoice_id)
    return _to_organization(identity, event.organization_id, "invoice-issued", values, entity)


def receipt_email(identity: Any, event: InvoicePaid) -> Email | None:
    values = {"number": event.invoice_number, "amount": format_cents(event.amount_paid)}
    entity = ("Invoice", event.invoice_id)
    return _to_organization(identity, event.organization_id, "invoice-paid", values, entity)


def overdue_warning(identity: Any, event: BillingAccountOverdue) -> Email | None:
    entity = ("BillingAccount", event.billing_account_id)
    values = {"link": link("invoices")}
    return _to_organization(identity, event.organization_id, "account-overdue", values, entity)


def suspension_notice(identity: Any, event: BillingAccountSuspended) -> Email | None:
    entity = ("BillingAccount", event.billing_account_id)
    values = {"link": link("invoices")}
    return _to_organization(identity, event.organization_id, "account-suspended", values, entity)
