"""Which email each event sends, to whom, with what in it.

Tokens for emailed links are asked right before sending (from identity; an invoice's payment
link from billing), so they exist in plain text only in the email itself: no event and no
outbox row holds one, and the email log keeps the link with its token withheld
(`emails.TOKEN_WITHHELD`). `identity`, `billing` and `support` are the services' RPC
proxies, called as the suite itself (event handlers run as SYSTEM).

Billing mail (invoices, receipts, credits, voids, overdue, suspension, reactivation) goes
in one email to the organization's address and its OWNER and BILLING members, as identity's
`billing_contacts` names them, each address once.

Support's emails are built from its events alone, which never hold an internal note (nor
say one exists): staff hear of new and reopened tickets at SUPPORT_TEAM_EMAIL; a client's
participants, of a staff member's public reply and of a resolution.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from services.billing.events import (
    AccountStatusChanged,
    BillingAccountOverdue,
    BillingAccountReactivated,
    BillingAccountSuspended,
    CreditIssued,
    InvoiceIssued,
    InvoiceVoided,
    PaymentApplied,
)
from services.identity.events import (
    EmailVerificationRequested,
    InvitationCreated,
    PasswordResetRequested,
    SignUpAttempted,
    UserRegistered,
)
from services.notifications.emails import TOKEN_WITHHELD, Email, LinkToken, unique_addresses
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


def fresh_token(identity: Any, billing: Any, kind: str, ref: str) -> str | None:
    """A new token for a link of this `kind` (see `emails.LinkToken`), for a resend; None
    once none can be issued (verified already, invitation accepted, invoice void, ...)."""
    if kind == "invitation":
        issued = identity.issue_invitation_token(ref)
    elif kind == "payment-link":
        return billing.payment_token(ref)
    else:
        issued = identity.issue_email_token(ref, kind)
    return issued["token"] if issued is not None else None


def verification_email(
    identity: Any, event: UserRegistered | EmailVerificationRequested
) -> Email | None:
    issued = identity.issue_email_token(event.user_id, "email-verification")
    if issued is None:
        return None  # already verified
    values = {
        "name": issued["name"] or issued["email"],
        "link": link("verify-email", TOKEN_WITHHELD),
    }
    token = LinkToken("email-verification", event.user_id, issued["token"])
    return Email("verify-email", (issued["email"],), values, "User", event.user_id, token=token)


def password_reset_email(identity: Any, event: PasswordResetRequested) -> Email | None:
    issued = identity.issue_email_token(event.user_id, "password-reset")
    if issued is None:
        return None
    values = {"link": link("reset-password", TOKEN_WITHHELD)}
    token = LinkToken("password-reset", event.user_id, issued["token"])
    return Email("password-reset", (issued["email"],), values, "User", event.user_id, token=token)


def sign_up_attempted_email(identity: Any, event: SignUpAttempted) -> Email | None:
    """The owner of a taken address learns someone tried to sign up with it; the link lets
    them choose a new password if it was them and they forgot it."""
    issued = identity.issue_email_token(event.user_id, "password-reset")
    if issued is None:
        return None  # the account is gone
    values = {
        "name": issued["name"] or issued["email"],
        "link": link("reset-password", TOKEN_WITHHELD),
    }
    token = LinkToken("password-reset", event.user_id, issued["token"])
    return Email(
        "sign-up-attempted", (issued["email"],), values, "User", event.user_id, token=token
    )


def invitation_email(identity: Any, event: InvitationCreated) -> Email | None:
    issued = identity.issue_invitation_token(event.invitation_id)
    if issued is None:
        return None  # accepted, revoked or expired meanwhile
    values = {
        "organization": event.organization_name,
        "role": event.role,
        "link": link("accept-invitation", TOKEN_WITHHELD),
    }
    return Email(
        "invitation",
        (issued["email"],),
        values,
        "Invitation",
        event.invitation_id,
        organization_id=event.organization_id,
        token=LinkToken("invitation", event.invitation_id, issued["token"]),
    )


# --- billing ----------------------------------------------------------------------------------


def _billing_mail(
    identity: Any,
    organization_id: str,
    template: str,
    values: dict[str, str | bool | None],
    entity: tuple[str, str],
    token: LinkToken | None = None,
) -> Email | None:
    """One email to the organization's address and its OWNER and BILLING members (asked
    from identity), each address once; none once the organization is deleted: there is
    nobody left to tell."""
    try:
        contacts = identity.billing_contacts(organization_id)
    except NotFound:
        return None
    organization = contacts["organization"]
    recipients = unique_addresses(
        [organization["email"], *(person["email"] for person in contacts["people"])]
    )
    if not recipients:
        return None
    values = {"organization": organization["name"], **values}
    return Email(
        template, recipients, values, *entity, organization_id=organization_id, token=token
    )


def _payment_link(billing: Any, invoice_id: str) -> tuple[str, LinkToken] | None:
    """The pay page's link (token withheld) and its token; None once the invoice is void."""
    token = billing.payment_token(invoice_id)
    if token is None:
        return None
    return pay_link(TOKEN_WITHHELD), LinkToken("payment-link", invoice_id, token)


def invoice_email(identity: Any, billing: Any, event: InvoiceIssued) -> Email | None:
    payment_link = _payment_link(billing, event.invoice_id)
    if payment_link is None:
        return None  # voided meanwhile
    url, token = payment_link
    values = {
        "number": event.invoice_number,
        "total": format_cents(event.total),
        "amount_due": format_cents(event.amount_due),
        "due": event.due_at[:10],
        "link": url,
    }
    entity = ("Invoice", event.invoice_id)
    return _billing_mail(identity, event.organization_id, "invoice-issued", values, entity, token)


def receipt_email(identity: Any, billing: Any, event: PaymentApplied) -> Email | None:
    """A receipt for every payment counted, partial ones too: what was paid, what remains
    and, while something does, the link to pay the rest."""
    values: dict[str, str | bool | None] = {
        "amount": format_cents(event.amount),
        "method": method_name(event.method),
        "credited": format_cents(event.credited) if event.credited > 0 else None,
    }
    entity = ("Payment", event.payment_id)
    if event.invoice_id is None:
        values["credited"] = format_cents(event.credited)
        return _billing_mail(
            identity, event.organization_id, "payment-on-account-receipt", values, entity
        )
    void = event.invoice_status == "VOID"
    remaining = not void and event.amount_due > 0
    payment_link = _payment_link(billing, event.invoice_id) if remaining else None
    values |= {
        "number": event.invoice_number or event.invoice_id,
        "void": void,
        "paid_in_full": not void and not remaining,
        "amount_due": format_cents(event.amount_due) if remaining else None,
        "link": payment_link[0] if payment_link else None,
    }
    token = payment_link[1] if payment_link else None
    return _billing_mail(identity, event.organization_id, "payment-receipt", values, entity, token)


def _invoices_link() -> str:
    return link("invoices")


def credit_email(identity: Any, event: CreditIssued) -> Email | None:
    values = {"amount": format_cents(event.amount), "link": _invoices_link()}
    entity = ("Credit", event.credit_id)
    return _billing_mail(identity, event.organization_id, "credit-issued", values, entity)


def voided_invoice_email(identity: Any, billing: Any, event: InvoiceVoided) -> Email | None:
    """The event names the invoice only: its number and total are asked from billing."""
    try:
        invoice = billing.get_invoice(event.organization_id, event.invoice_id)
    except NotFound:
        return None  # the account is gone with its organization
    values = {
        "number": invoice["invoice_number"] or event.invoice_id,
        "total": format_cents(invoice["total"]),
        "link": _invoices_link(),
    }
    entity = ("Invoice", event.invoice_id)
    return _billing_mail(identity, event.organization_id, "invoice-voided", values, entity)


def _account_notice(identity: Any, event: AccountStatusChanged, template: str) -> Email | None:
    entity = ("BillingAccount", event.billing_account_id)
    values = {"link": _invoices_link()}
    return _billing_mail(identity, event.organization_id, template, values, entity)


def overdue_warning(identity: Any, event: BillingAccountOverdue) -> Email | None:
    return _account_notice(identity, event, "account-overdue")


def suspension_notice(identity: Any, event: BillingAccountSuspended) -> Email | None:
    return _account_notice(identity, event, "account-suspended")


def reactivation_notice(identity: Any, event: BillingAccountReactivated) -> Email | None:
    return _account_notice(identity, event, "account-reactivated")


# --- support ----------------------------------------------------------------------------------


def _ticket_link(ticket_id: str, *, staff: bool) -> str:
    path = "admin/tickets" if staff else "support/tickets"
    return link(f"{path}/{quote(ticket_id, safe='')}")


def _to_support_team(
    template: str,
    values: dict[str, str | bool | None],
    entity: tuple[str, str],
    organization_id: str | None = None,
) -> Email:
    to = (config.SUPPORT_TEAM_EMAIL.get(),)
    return Email(template, to, values, *entity, organization_id=organization_id)


def _to_participants(
    identity: Any, support: Any, event: TicketReplied | TicketStatusChanged, template: str,
    values: dict[str, str | bool | None],
) -> Email | None:  # fmt: skip
    """An email to the client people on the ticket (whoever opened it and members who
    replied), in one message; when there are none (a ticket the system opened), to the
    organization's address as other account mail; none once the ticket or the
    organization is gone."""
    entity = ("SupportTicket", event.ticket_id)
    try:
        recipients = support.ticket_recipients(event.ticket_id)
    except NotFound:
        return None
    user_ids = recipients["user_ids"]
    addresses = unique_addresses(  # identity answers for at most MAX_IDS_PER_CALL users a call
        contact["email"]
        for start in range(0, len(user_ids), MAX_IDS_PER_CALL)
        for contact in identity.contact_addresses(user_ids[start : start + MAX_IDS_PER_CALL])
    )
    organization_id = recipients["organization_id"]
    if not addresses:
        try:
            addresses = (identity.get_organization(organization_id)["email"],)
        except NotFound:
            return None
    return Email(template, addresses, values, *entity, organization_id=organization_id)


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
    entity = ("SupportTicket", event.ticket_id)
    return _to_support_team("support-ticket-created", values, entity, event.organization_id)


def ticket_reply_email(identity: Any, support: Any, event: TicketReplied) -> Email | None:
    """A staff member's public reply, to the client; the client's own replies send none."""
    if not event.by_staff:
        return None
    values = {
        "subject": event.subject,
        "message": event.message,
        "link": _ticket_link(event.ticket_id, staff=False),
    }
    return _to_participants(identity, support, event, "support-reply", values)


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
        return _to_support_team("support-ticket-reopened", values, entity, event.organization_id)
    if event.new_status == "RESOLVED":
        values = {"subject": event.subject, "link": _ticket_link(event.ticket_id, staff=False)}
        return _to_participants(identity, support, event, "support-ticket-resolved", values)
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
    return Email(
        "support-ticket-assigned",
        (assignee["email"],),
        values,
        *entity,
        organization_id=event.organization_id,
    )


def support_summary_email(event: SupportDailySummary) -> Email:
    oldest = event.oldest_ticket_id is not None
    values: dict[str, str | bool | None] = {
        "day": event.day,
        "open": str(event.open),
        "breached": str(event.breached),
        "unassigned": str(event.unassigned),
        "oldest_subject": (event.oldest_subject or "") if oldest else None,
        "oldest_ticket_id": event.oldest_ticket_id,
        "oldest_opened": ((event.oldest_created_at or "")[:10] or "at an unknown time")
        if oldest
        else None,
        "none_open": not oldest,
        "link": link("admin/tickets"),
    }
    return _to_support_team("support-daily-summary", values, ("SupportSummary", event.day))
