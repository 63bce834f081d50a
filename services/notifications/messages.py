"""Which email each event sends, to whom, with what in it.

Tokens for emailed links are asked right before sending (from identity; an invoice's payment
link from billing), so they exist in plain text only in the email itself: no event and no
outbox row holds one. `identity`, `billing` and `support` are the services' RPC proxies,
called as the suite itself (event handlers run as SYSTEM).

Support's emails are built from its events alone, which never hold an internal note (nor
say one exists): staff hear of new and reopened tickets at SUPPORT_TEAM_EMAIL; a client's
participants, of a staff member's public reply and of a resolution.
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
from services.support.events import (
    SupportDailySummary,
    TicketAssigned,
    TicketCreated,
    TicketReplied,
    TicketStatusChanged,
)
from shared import config
from shared.errors import NotFound
from shared.money import format_cents
from shared.schemas import MAX_IDS_PER_CALL


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


# --- support ----------------------------------------------------------------------------------


def _ticket_link(ticket_id: str, *, staff: bool) -> str:
    path = "admin/tickets" if staff else "support/tickets"
    return link(f"{path}/{quote(ticket_id, safe='')}")


def _to_support_team(template: str, values: dict[str, str], entity: tuple[str, str]) -> Email:
    return Email(template, config.SUPPORT_TEAM_EMAIL.get(), values, *entity)


def _to_participants(
    identity: Any, support: Any, ticket_id: str, template: str, values: dict[str, str]
) -> Email | None:
    """An email to the client people on the ticket (whoever opened it and members who
    replied), in one message; when there are none (a ticket the system opened), to the
    organization's address as other account mail."""
    entity = ("SupportTicket", ticket_id)
    try:
        recipients = support.ticket_recipients(ticket_id)
    except NotFound:
        return None
    user_ids = recipients["user_ids"]
    contacts = [  # identity answers for at most MAX_IDS_PER_CALL users a call
        contact
        for start in range(0, len(user_ids), MAX_IDS_PER_CALL)
        for contact in identity.contact_addresses(user_ids[start : start + MAX_IDS_PER_CALL])
    ]
    if not contacts:
        return _to_organization(identity, recipients["organization_id"], template, values, entity)
    to = ", ".join(contact["email"] for contact in contacts)
    return Email(template, to, values, *entity)


def _contact_line(contact: dict[str, Any]) -> str:
    return f"{contact['name']} <{contact['email']}>" if contact["name"] else contact["email"]


def _opened_by(identity: Any, event: TicketCreated) -> str:
    if event.ticket_source == "system" or event.opened_by_id is None:
        return "the system"
    found = identity.contact_addresses([event.opened_by_id])
    who = _contact_line(found[0]) if found else f"user {event.opened_by_id}"
    return f"CVT staff: {who}" if event.ticket_source == "staff" else who


def ticket_created_email(identity: Any, event: TicketCreated) -> Email:
    values = {
        "subject": event.subject,
        "priority": event.priority,
        "organization_id": event.organization_id,
        "opened_by": _opened_by(identity, event),
        "ticket_id": event.ticket_id,
        "link": _ticket_link(event.ticket_id, staff=True),
    }
    return _to_support_team("support-ticket-created", values, ("SupportTicket", event.ticket_id))


def ticket_reply_email(identity: Any, support: Any, event: TicketReplied) -> Email | None:
    """A staff member's public reply, to the client; the client's own replies send none."""
    if not event.by_staff:
        return None
    values = {
        "subject": event.subject,
        "message": event.message,
        "link": _ticket_link(event.ticket_id, staff=False),
    }
    return _to_participants(identity, support, event.ticket_id, "support-reply", values)


def ticket_status_email(identity: Any, support: Any, event: TicketStatusChanged) -> Email | None:
    """A reopened ticket, to staff; a resolved one, to the client. Other moves send none."""
    if event.reopened:
        values = {
            "subject": event.subject,
            "organization_id": event.organization_id,
            "old_status": event.old_status,
            "new_status": event.new_status,
            "ticket_id": event.ticket_id,
            "link": _ticket_link(event.ticket_id, staff=True),
        }
        entity = ("SupportTicket", event.ticket_id)
        return _to_support_team("support-ticket-reopened", values, entity)
    if event.new_status == "RESOLVED":
        values = {"subject": event.subject, "link": _ticket_link(event.ticket_id, staff=False)}
        return _to_participants(
            identity, support, event.ticket_id, "support-ticket-resolved", values
        )
    return None


def ticket_assigned_email(identity: Any, event: TicketAssigned) -> Email | None:
    found = identity.contact_addresses([event.assigned_to_id])
    if not found:
        return None  # the assignee's account is gone
    assignee = found[0]
    values = {
        "name": assignee["name"] or assignee["email"],
        "subject": event.subject,
        "organization_id": event.organization_id,
        "ticket_id": event.ticket_id,
        "link": _ticket_link(event.ticket_id, staff=True),
    }
    entity = ("SupportTicket", event.ticket_id)
    return Email("support-ticket-assigned", assignee["email"], values, *entity)


def support_summary_email(event: SupportDailySummary) -> Email:
    if event.oldest_ticket_id is None:
        oldest = templates.SUMMARY_NONE_OPEN
    else:
        oldest = templates.SUMMARY_OLDEST.substitute(
            subject=event.oldest_subject or "",
            ticket_id=event.oldest_ticket_id,
            opened=(event.oldest_created_at or "")[:10] or "at an unknown time",
        )
    values = {
        "day": event.day,
        "open": str(event.open),
        "breached": str(event.breached),
        "unassigned": str(event.unassigned),
        "oldest": oldest,
        "link": link("admin/tickets"),
    }
    return _to_support_team("support-daily-summary", values, ("SupportSummary", event.day))
