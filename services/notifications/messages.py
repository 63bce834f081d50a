"""Which email each event sends, to whom, with what in it.

Tokens for emailed links are asked right before sending (from identity; an invoice's payment
link from billing), so they exist in plain text only in the email itself: no event and no
outbox row holds one. `identity` and `billing` are the services' RPC proxies, called as the
suite itself (event handlers run as SYSTEM).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from services.billing.events import (
    BillingAccountOverdue,
    BillingAccountSuspended,
    InvoiceIssued,
    PaymentApplied,
)
from services.identity.events import (
    EmailVerificationRequested,
    InvitationCreated,
    PasswordResetRequested,
    SignUpAttempted,
    UserRegistered,
)
from services.notifications import templates
from services.notifications.emails import Email
from shared import config
from shared.errors import NotFound
from shared.money import format_cents


def link(path: str, token: str | None = None) -> str:
    query = f"?{urlencode({'token': token})}" if token else ""
    return f"{config.APP_URL.get().rstrip('/')}/{path}{query}"


def pay_link(token: str) -> str:
    """The invoice's pay page, which the gateway serves (no sign-in: the token is enough)."""
    return f"{config.public_url()}/pay/{quote(token, safe='')}"


# How a receipt names each of the payments service's methods.
METHOD_NAMES = {
    "PAYNOW_ECOCASH": "EcoCash",
    "PAYNOW_ONEMONEY": "OneMoney",
    "PAYNOW_INNBUCKS": "InnBucks",
    "PAYNOW_VISA": "Visa",
    "PAYNOW_MASTERCARD": "Mastercard",
    "BANK_TRANSFER": "bank transfer",
    "CASH": "cash",
    "CREDIT": "account credit",
}


def method_name(method: str) -> str:
    return METHOD_NAMES.get(method, method.replace("_", " ").lower())


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
        "link": pay_link(token),
    }
    entity = ("Invoice", event.invoice_id)
    return _to_organization(identity, event.organization_id, "invoice-issued", values, entity)


def receipt_email(identity: Any, billing: Any, event: PaymentApplied) -> Email | None:
    """A receipt for every payment counted, partial ones too: what was paid, what remains
    and, while something does, the link to pay the rest."""
    values = {
        "amount": format_cents(event.amount),
        "method": method_name(event.method),
        "credited": format_cents(event.credited),
    }
    entity = ("Payment", event.payment_id)
    if event.invoice_id is None:
        return _to_organization(
            identity, event.organization_id, "payment-on-account-receipt", values, entity
        )
    values["number"] = event.invoice_number or event.invoice_id
    values["outcome"] = _receipt_outcome(billing, event, values["number"])
    return _to_organization(identity, event.organization_id, "payment-receipt", values, entity)


def _receipt_outcome(billing: Any, event: PaymentApplied, number: str) -> str:
    parts = []
    if event.invoice_status == "VOID":
        parts.append(templates.RECEIPT_VOID.substitute(number=number))
    elif event.amount_due <= 0:
        parts.append(templates.RECEIPT_PAID_IN_FULL.substitute(number=number))
    else:
        due = format_cents(event.amount_due)
        parts.append(templates.RECEIPT_REMAINING.substitute(amount_due=due, number=number))
        token = billing.payment_token(event.invoice_id)
        if token is not None:
            parts.append(templates.RECEIPT_PAY_THE_REST.substitute(link=pay_link(token)))
    if event.credited > 0:
        credited = format_cents(event.credited)
        parts.append(templates.RECEIPT_CREDITED.substitute(credited=credited))
    return "\n\n".join(parts)


def overdue_warning(identity: Any, event: BillingAccountOverdue) -> Email | None:
    entity = ("BillingAccount", event.billing_account_id)
    values = {"link": link("invoices")}
    return _to_organization(identity, event.organization_id, "account-overdue", values, entity)


def suspension_notice(identity: Any, event: BillingAccountSuspended) -> Email | None:
    entity = ("BillingAccount", event.billing_account_id)
    values = {"link": link("invoices")}
    return _to_organization(identity, event.organization_id, "account-suspended", values, entity)
