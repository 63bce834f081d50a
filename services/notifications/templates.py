"""Email templates: a subject and a plain-text body each, filled with `string.Template`
(`$name`), which never evaluates anything it is given."""

from __future__ import annotations

import re
from dataclasses import dataclass
from string import Template

# Control characters (CR/LF above all) would let a value end a header and start another;
# names and subjects come from clients (a ticket's subject), so they are flattened, never
# trusted.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def header_safe(value: str) -> str:
    return _CONTROL.sub(" ", value).strip()


@dataclass(frozen=True)
class EmailTemplate:
    subject: str
    body: str

    def render(self, values: dict[str, str]) -> tuple[str, str]:
        """The subject is one line whatever the values hold: the log records what is sent."""
        subject = header_safe(Template(self.subject).substitute(values))
        return subject, Template(self.body).substitute(values)


SIGNATURE = "\n--\nChristus Veritas Technologies\nPOS terminals, leasing and maintenance\n"

TEMPLATES: dict[str, EmailTemplate] = {
    "verify-email": EmailTemplate(
        subject="Confirm your email address",
        body=(
            "Hello $name,\n\nPlease confirm your email address for your CVT account:\n\n"
            "$link\n\nThe link works for 24 hours. If you did not sign up, ignore this email.\n"
            + SIGNATURE
        ),
    ),
    "password-reset": EmailTemplate(
        subject="Reset your CVT password",
        body=(
            "Hello,\n\nSomeone asked to reset the password of your CVT account. "
            "To choose a new one, open:\n\n$link\n\nThe link works for one hour. If it was "
            "not you, ignore this email: your password stays as it is.\n" + SIGNATURE
        ),
    ),
    "sign-up-attempted": EmailTemplate(
        subject="Someone tried to sign up with your email address",
        body=(
            "Hello $name,\n\nSomeone just tried to create a CVT account with this email "
            "address, which already has one. Nothing has changed on your account.\n\n"
            "If it was you, sign in with your password. If you have forgotten it, choose a "
            "new one here:\n\n$link\n\nThe link works for one hour. If it was not you, "
            "ignore this email: your account and password stay as they are.\n" + SIGNATURE
        ),
    ),
    "invoice-issued": EmailTemplate(
        subject="Invoice $number from CVT: $amount_due due by $due",
        body=(
            "Hello $organization,\n\nYour invoice $number for $total is ready; $amount_due is "
            "due by $due.\n\nSee it and pay (EcoCash, OneMoney, InnBucks or card):\n\n$link\n"
            + SIGNATURE
        ),
    ),
    "payment-receipt": EmailTemplate(
        subject="Receipt: $amount paid on invoice $number",
        body=(
            "Hello $organization,\n\nThank you: we received your payment.\n\n"
            "Amount paid: $amount\nMethod: $method\nInvoice: $number\n\n$outcome\n" + SIGNATURE
        ),
    ),
    "payment-on-account-receipt": EmailTemplate(
        subject="Receipt: $amount paid to your CVT account",
        body=(
            "Hello $organization,\n\nThank you: we received your payment.\n\n"
            "Amount paid: $amount\nMethod: $method\nCredit added: $credited\n\n"
            "The credit is used on your next invoices.\n" + SIGNATURE
        ),
    ),
    "account-overdue": EmailTemplate(
        subject="Payment overdue on your CVT account",
        body=(
            "Hello $organization,\n\nAn invoice on your CVT account is past its due date. "
            "Please pay it to avoid the suspension of your terminals:\n\n$link\n" + SIGNATURE
        ),
    ),
    "account-suspended": EmailTemplate(
        subject="Your CVT services are suspended",
        body=(
            "Hello $organization,\n\nYour account is suspended for non-payment: your terminals "
            "are refused until the overdue invoices are paid. You can still sign in and pay:\n\n"
            "$link\n" + SIGNATURE
        ),
    ),
    "invitation": EmailTemplate(
        subject="You are invited to $organization on CVT",
        body=(
            "Hello,\n\nYou are invited to join $organization on CVT as $role. To accept, "
            "sign in (or sign up) with this email address and open:\n\n$link\n\n"
            "The invitation is valid for 7 days.\n" + SIGNATURE
        ),
    ),
    # Support: to CVT's support inbox (SUPPORT_TEAM_EMAIL)...
    "support-ticket-created": EmailTemplate(
        subject="New ticket [$priority]: $subject",
        body=(
            "A new support ticket was opened.\n\nSubject: $subject\nPriority: $priority\n"
            "Organization: $organization_id\nOpened by: $opened_by\nTicket: $ticket_id\n\n"
            "$link\n" + SIGNATURE
        ),
    ),
    "support-ticket-reopened": EmailTemplate(
        subject="Ticket reopened: $subject",
        body=(
            "A resolved support ticket was reopened and needs an answer again.\n\n"
            "Subject: $subject\nOrganization: $organization_id\nStatus: $old_status -> "
            "$new_status\nTicket: $ticket_id\n\n$link\n" + SIGNATURE
        ),
    ),
    "support-daily-summary": EmailTemplate(
        subject="Support summary $day: $open open, $breached past their response target",
        body=(
            "Support tickets on $day:\n\nOpen: $open\nPast their first-response target: "
            "$breached\nUnassigned: $unassigned\n\n$oldest\n\n$link\n" + SIGNATURE
        ),
    ),
    # ... to the staff member a ticket is assigned to ...
    "support-ticket-assigned": EmailTemplate(
        subject="Ticket assigned to you: $subject",
        body=(
            "Hello $name,\n\nA support ticket is assigned to you.\n\nSubject: $subject\n"
            "Organization: $organization_id\nTicket: $ticket_id\n\n$link\n" + SIGNATURE
        ),
    ),
    # ... and to the client: the ticket's participants, or the organization's address.
    "support-reply": EmailTemplate(
        subject="CVT support replied: $subject",
        body=(
            'Hello,\n\nCVT support replied to your ticket "$subject":\n\n$message\n\n'
            "To answer, reply on the ticket:\n\n$link\n" + SIGNATURE
        ),
    ),
    "support-ticket-resolved": EmailTemplate(
        subject="Your ticket is resolved: $subject",
        body=(
            'Hello,\n\nCVT support marked your ticket "$subject" as resolved.\n\n'
            "If something is still wrong, reply on the ticket: replying reopens it.\n\n"
            "$link\n" + SIGNATURE
        ),
    ),
}

# What a receipt says about its invoice, chosen by what the payment did
# (`messages.receipt_email`) and joined into the receipt's $outcome.
RECEIPT_PAID_IN_FULL = Template("Invoice $number is paid in full.")
RECEIPT_VOID = Template("Invoice $number is void: nothing was due on it.")
RECEIPT_REMAINING = Template("$amount_due remains due on invoice $number.")
RECEIPT_PAY_THE_REST = Template("Pay the rest (EcoCash, OneMoney, InnBucks or card):\n\n$link")
RECEIPT_CREDITED = Template(
    "Credit added: $credited, more than was due. It is used on your next invoices."
)

# What the daily support summary says about the oldest open ticket ($oldest).
SUMMARY_OLDEST = Template('Oldest open ticket: "$subject" ($ticket_id), opened $opened.')
SUMMARY_NONE_OPEN = "No ticket is open."
