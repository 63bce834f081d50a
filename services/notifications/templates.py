"""Email templates: a subject and a plain-text body each, filled with `string.Template`
(`$name`), which never evaluates anything it is given."""

from __future__ import annotations

from dataclasses import dataclass
from string import Template


@dataclass(frozen=True)
class EmailTemplate:
    subject: str
    body: str

    def render(self, values: dict[str, str]) -> tuple[str, str]:
        return Template(self.subject).substitute(values), Template(self.body).substitute(values)


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
