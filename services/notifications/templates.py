"""Email templates: one source per email renders its subject, its plain-text part and its
HTML part, filled with `string.Template` (`$name`), which never evaluates anything it is
given.

A body is written as plain text in paragraphs (a blank line between two; a single newline
is a line break). The plain-text part is the source filled in as it is; the HTML part is the
same source with the template's own text and every value HTML-escaped, each paragraph a
`<p>`, line breaks `<br>`. A value whose name ends in `link` is a URL: in HTML an anchor
(only for http and https URLs; anything else stays text).

Parts that only some emails need are paragraphs that may be left out:
- a paragraph naming a value that is None is left out (a receipt without a rest to pay);
- a paragraph that starts with `?flag ` shows only when the value `flag` is true (which of a
  receipt's outcomes it states); the `?flag ` itself is never shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from string import Template

# Control characters (CR/LF above all) would let a value end a header and start another;
# names and subjects come from clients (a ticket's subject), so they are flattened, never
# trusted.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_GUARD = re.compile(r"\?(\w+) ")
_URL = re.compile(r"https?://", re.IGNORECASE)

# A value: text to show, or (for `?flag` paragraphs and optional ones) a bool or None.
Values = Mapping[str, str | bool | None]


def header_safe(value: str) -> str:
    return _CONTROL.sub(" ", value).strip()


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


SIGNATURE = ("--", "Christus Veritas Technologies", "POS terminals, leasing and maintenance")
_TEXT_SIGNATURE = "\n\n-- \n" + "\n".join(SIGNATURE[1:]) + "\n"
_HTML_SIGNATURE = '<p style="color:#666666;font-size:90%">' + "<br>\n".join(SIGNATURE) + "</p>"
_HTML_PAGE = (
    '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>{title}</title>'
    "</head>\n"
    '<body style="font-family:Arial,Helvetica,sans-serif;color:#222222;line-height:1.5">\n'
    "{body}\n{signature}\n</body>\n</html>\n"
)


def _html_value(name: str, value: str) -> str:
    text = escape(value.replace("\r\n", "\n"), quote=True)
    if name.endswith("link") and _URL.match(value):
        return f'<a href="{text}">{text}</a>'
    return text


@dataclass(frozen=True)
class EmailTemplate:
    subject: str
    body: str

    def _paragraphs(self, values: Values) -> list[str]:
        """The body's paragraphs this email shows, without their `?flag `."""
        shown = []
        for paragraph in self.body.split("\n\n"):
            guard = _GUARD.match(paragraph)
            if guard is not None:
                if not values[guard.group(1)]:
                    continue
                paragraph = paragraph[guard.end() :]
            if any(values[name] is None for name in Template(paragraph).get_identifiers()):
                continue
            shown.append(paragraph)
        return shown

    def render(self, values: Values) -> Rendered:
        """The subject is one line whatever the values hold: the log records what is sent.
        A value the template names and `values` lacks is a KeyError (a bug, found in tests)."""
        plain = {name: str(value) for name, value in values.items() if value is not None}
        subject = header_safe(Template(self.subject).substitute(plain))
        paragraphs = self._paragraphs(values)
        text = "\n\n".join(Template(p).substitute(plain) for p in paragraphs) + _TEXT_SIGNATURE
        html_values = {name: _html_value(name, value) for name, value in plain.items()}
        body = "\n".join(
            "<p>"
            + Template(escape(p, quote=True)).substitute(html_values).replace("\n", "<br>\n")
            + "</p>"
            for p in paragraphs
        )
        html = _HTML_PAGE.format(
            title=escape(subject, quote=True), body=body, signature=_HTML_SIGNATURE
        )
        return Rendered(subject, text, html)


TEMPLATES: dict[str, EmailTemplate] = {
    "verify-email": EmailTemplate(
        subject="Confirm your email address",
        body=(
            "Hello $name,\n\nPlease confirm your email address for your CVT account:\n\n"
            "$link\n\nThe link works for 24 hours. If you did not sign up, ignore this email."
        ),
    ),
    "password-reset": EmailTemplate(
        subject="Reset your CVT password",
        body=(
            "Hello,\n\nSomeone asked to reset the password of your CVT account. "
            "To choose a new one, open:\n\n$link\n\nThe link works for one hour. If it was "
            "not you, ignore this email: your password stays as it is."
        ),
    ),
    "sign-up-attempted": EmailTemplate(
        subject="Someone tried to sign up with your email address",
        body=(
            "Hello $name,\n\nSomeone just tried to create a CVT account with this email "
            "address, which already has one. Nothing has changed on your account.\n\n"
            "If it was you, sign in with your password. If you have forgotten it, choose a "
            "new one here:\n\n$link\n\nThe link works for one hour. If it was not you, "
            "ignore this email: your account and password stay as they are."
        ),
    ),
    "invitation": EmailTemplate(
        subject="You are invited to $organization on CVT",
        body=(
            "Hello,\n\nYou are invited to join $organization on CVT as $role. To accept, "
            "sign in (or sign up) with this email address and open:\n\n$link\n\n"
            "The invitation is valid for 7 days."
        ),
    ),
    # Billing: to the organization's address and its OWNER and BILLING members.
    "invoice-issued": EmailTemplate(
        subject="Invoice $number from CVT: $amount_due due by $due",
        body=(
            "Hello $organization,\n\nYour invoice $number for $total is ready; $amount_due is "
            "due by $due.\n\nSee it and pay (EcoCash, OneMoney, InnBucks or card):\n\n$link"
        ),
    ),
    "payment-receipt": EmailTemplate(
        subject="Receipt: $amount paid on invoice $number",
        body=(
            "Hello $organization,\n\nThank you: we received your payment.\n\n"
            "Amount paid: $amount\nMethod: $method\nInvoice: $number\n\n"
            "?void Invoice $number is void: nothing was due on it.\n\n"
            "?paid_in_full Invoice $number is paid in full.\n\n"
            "$amount_due remains due on invoice $number.\n\n"
            "Pay the rest (EcoCash, OneMoney, InnBucks or card):\n$link\n\n"
            "Credit added: $credited, more than was due. It is used on your next invoices."
        ),
    ),
    "payment-on-account-receipt": EmailTemplate(
        subject="Receipt: $amount paid to your CVT account",
        body=(
            "Hello $organization,\n\nThank you: we received your payment.\n\n"
            "Amount paid: $amount\nMethod: $method\nCredit added: $credited\n\n"
            "The credit is used on your next invoices."
        ),
    ),
    "credit-issued": EmailTemplate(
        subject="CVT credited $amount to your account",
        body=(
            "Hello $organization,\n\nCVT added a credit of $amount to your account. "
            "It is used on your next invoices.\n\nSee your invoices:\n\n$link"
        ),
    ),
    "invoice-voided": EmailTemplate(
        subject="Invoice $number is void",
        body=(
            "Hello $organization,\n\nInvoice $number for $total is void: nothing is due on it "
            "any more, and its payment link no longer works.\n\nSee your invoices:\n\n$link"
        ),
    ),
    "account-overdue": EmailTemplate(
        subject="Payment overdue on your CVT account",
        body=(
            "Hello $organization,\n\nAn invoice on your CVT account is past its due date. "
            "Please pay it to avoid the suspension of your terminals:\n\n$link"
        ),
    ),
    "account-suspended": EmailTemplate(
        subject="Your CVT services are suspended",
        body=(
            "Hello $organization,\n\nYour account is suspended for non-payment: your terminals "
            "are refused until the overdue invoices are paid. You can still sign in and pay:"
            "\n\n$link"
        ),
    ),
    "account-reactivated": EmailTemplate(
        subject="Your CVT services are active again",
        body=(
            "Hello $organization,\n\nThank you: nothing is overdue on your CVT account any "
            "more. Your account is in good standing and its services are active: your "
            "terminals are accepted as usual.\n\nSee your invoices:\n\n$link"
        ),
    ),
    # Support: to CVT's support inbox (SUPPORT_TEAM_EMAIL)...
    "support-ticket-created": EmailTemplate(
        subject="New ticket [$priority]: $subject",
        body=(
            "A new support ticket was opened.\n\nSubject: $subject\nPriority: $priority\n"
            "Organization: $organization_id\nOpened by: $opened_by\nTicket: $ticket_id\n\n"
            "$link"
        ),
    ),
    "support-ticket-reopened": EmailTemplate(
        subject="Ticket reopened: $subject",
        body=(
            "A resolved support ticket was reopened and needs an answer again.\n\n"
            "Subject: $subject\nOrganization: $organization_id\nStatus: $old_status -> "
            "$new_status\nTicket: $ticket_id\n\n$link"
        ),
    ),
    "support-daily-summary": EmailTemplate(
        subject="Support summary $day: $open open, $breached past their response target",
        body=(
            "Support tickets on $day:\n\nOpen: $open\nPast their first-response target: "
            "$breached\nUnassigned: $unassigned\n\n"
            'Oldest open ticket: "$oldest_subject" ($oldest_ticket_id), opened $oldest_opened.'
            "\n\n?none_open No ticket is open.\n\n$link"
        ),
    ),
    # ... to the staff member a ticket is assigned to ...
    "support-ticket-assigned": EmailTemplate(
        subject="Ticket assigned to you: $subject",
        body=(
            "Hello $name,\n\nA support ticket is assigned to you.\n\nSubject: $subject\n"
            "Organization: $organization_id\nTicket: $ticket_id\n\n$link"
        ),
    ),
    # ... and to the client: the ticket's participants, or the organization's address.
    "support-reply": EmailTemplate(
        subject="CVT support replied: $subject",
        body=(
            'Hello,\n\nCVT support replied to your ticket "$subject":\n\n$message\n\n'
            "To answer, reply on the ticket:\n\n$link"
        ),
    ),
    "support-ticket-resolved": EmailTemplate(
        subject="Your ticket is resolved: $subject",
        body=(
            'Hello,\n\nCVT support marked your ticket "$subject" as resolved.\n\n'
            "If something is still wrong, reply on the ticket: replying reopens it.\n\n$link"
        ),
    ),
}
