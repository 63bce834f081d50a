"""Paying an invoice through Paynow: by its payment link's token (no sign-in: the token is
the authority) or as a signed-in member who may pay invoices; and what the pay page reads.

Crash safety: the payment is committed PENDING before Paynow is asked, and its id is the
reference Paynow keeps. Whatever happens after (a crash, a timeout), Paynow's status post
names a payment we have, and the poller or expiry ends it. At most one attempt per
invoice is live (a partial unique index): starting again answers the live one.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.payments import status
from services.payments.invoices import PAYABLE, InvoiceLookup, LinkLookup, Payable, link_invoice
from services.payments.models import Payment, PaymentMethod, PaymentStatus
from services.payments.paynow import (
    Initiated,
    PaynowClient,
    PaynowError,
    PaynowRefused,
)
from services.payments.schemas import CheckoutPaymentSchema, CheckoutSchema, local_phone
from shared import config
from shared.authorization import PAY_INVOICES, authorize
from shared.clock import utcnow
from shared.errors import Conflict, Gone, NotFound, Unavailable, ValidationFailed
from shared.ids import is_cuid
from shared.schemas import load
from shared.unit_of_work import Transactions, UnitOfWork

log = logging.getLogger(__name__)

METHODS = {
    "ecocash": PaymentMethod.PAYNOW_ECOCASH,
    "onemoney": PaymentMethod.PAYNOW_ONEMONEY,
    "innbucks": PaymentMethod.PAYNOW_INNBUCKS,
    "visa": PaymentMethod.PAYNOW_VISA,
    "mastercard": PaymentMethod.PAYNOW_MASTERCARD,
}
EXPRESS = {
    PaymentMethod.PAYNOW_ECOCASH: "ecocash",
    PaymentMethod.PAYNOW_ONEMONEY: "onemoney",
    PaymentMethod.PAYNOW_INNBUCKS: "innbucks",
}
# How long a payer is asked to wait after Paynow did not answer (the attempt may be live).
RETRY_AFTER_SECONDS = 60


def result_url() -> str:
    return f"{config.public_url()}/webhooks/paynow"


def return_url(token: str | None, payment_id: str) -> str:
    """Where Paynow sends the payer back: the pay page, showing this payment."""
    if token is None:  # billing always issues a token with an invoice; be safe anyway
        return config.public_url() + "/"
    return f"{config.public_url()}/pay/{quote(token, safe='')}?payment={payment_id}"


def _answer(payment: Payment, created: bool) -> dict[str, Any]:
    return {"created": created, "payment": CheckoutPaymentSchema().dump(payment)}


def live_attempt(uow: UnitOfWork, invoice_id: str) -> Payment | None:
    return uow.session.scalar(
        select(Payment).where(
            Payment.invoice_id == invoice_id, Payment.status == PaymentStatus.PENDING
        )
    )


def start_checkout(
    store: Transactions,
    client: PaynowClient,
    organization_id: str,
    invoice_id: str,
    data: dict[str, Any],
    invoice_of: InvoiceLookup,
) -> dict[str, Any]:
    """A member who may pay invoices pays one of the organization's invoices."""
    authorize(organization_id, PAY_INVOICES)
    fields = load(CheckoutSchema(), data)
    invoice = invoice_of(organization_id, invoice_id)
    if invoice["status"] not in PAYABLE or invoice["amount_due"] <= 0:
        raise Conflict(
            f"this invoice is {invoice['status']}: there is nothing to pay",
            {"invoice_id": [invoice["status"].lower()]},
        )
    payable = Payable.from_invoice(
        organization_id, invoice["billing_account_id"], invoice, invoice.get("payment_token")
    )
    return _checkout(store, client, payable, fields)


def start_checkout_by_token(
    store: Transactions, client: PaynowClient, token: str, data: dict[str, Any], link_of: LinkLookup
) -> dict[str, Any]:
    """Anyone holding the invoice's payment link pays it."""
    fields = load(CheckoutSchema(), data)
    link = link_of(token)
    state = link["state"]
    if state == "expired":
        raise Gone("this payment link has expired", {"token": ["expired"]})
    if state != "payable":
        raise Conflict(f"this invoice is {state}: there is nothing to pay", {"token": [state]})
    payable = Payable.from_invoice(
        link["organization_id"], link["billing_account_id"], link["invoice"], token
    )
    return _checkout(store, client, payable, fields)


def _checkout(
    store: Transactions, client: PaynowClient, payable: Payable, fields: dict[str, Any]
) -> dict[str, Any]:
    amount = fields.get("amount", payable.amount_due)
    if amount > payable.amount_due:
        raise ValidationFailed(
            "more than is due", {"amount": [f"at most the amount due, {payable.amount_due}"]}
        )
    method = METHODS[fields["method"]]
    phone = local_phone(fields["phone"]) if method in EXPRESS else None
    with store.transaction() as uow:
        live = live_attempt(uow, payable.invoice_id)
        if live is not None:
            return _answer(live, created=False)
        payment = Payment(
            organization_id=payable.organization_id,
            billing_account_id=payable.billing_account_id,
            invoice_id=payable.invoice_id,
            invoice_number=payable.invoice_number,
            amount=amount,
            method=method,
            status=PaymentStatus.PENDING,
            phone=phone,
        )
        try:
            with uow.session.begin_nested():
                uow.session.add(payment)
        except IntegrityError:
            # Another request started one between our look and our insert.
            live = live_attempt(uow, payable.invoice_id)
            if live is None:
                raise
            return _answer(live, created=False)
        uow.audit(
            "payment.initiated",
            "Payment",
            payment.id,
            {"amount": amount, "method": method.value, "invoice_id": payable.invoice_id},
            organization_id=payment.organization_id,
        )
    try:
        initiated = _initiate(client, payment, payable, fields.get("email"))
    except PaynowRefused as refused:
        with store.transaction() as uow:
            payment = _locked(uow, payment.id)
            if payment.status == PaymentStatus.PENDING:
                status.mark_ended(uow, payment, PaymentStatus.FAILED, str(refused), "initiation")
        return _answer(payment, created=True)
    except PaynowError as exc:
        # It may have reached Paynow: the attempt stays PENDING (a status post can still
        # settle it) until expiry cancels it.
        log.warning("payment %s: Paynow initiation unanswered: %s", payment.id, exc)
        with store.transaction() as uow:
            uow.audit(
                "paynow.initiation_unanswered",
                "Payment",
                payment.id,
                {"error": str(exc)},
                organization_id=payment.organization_id,
            )
        raise Unavailable(
            "Paynow did not answer; try again in a few minutes", retry_after=RETRY_AFTER_SECONDS
        ) from exc
    with store.transaction() as uow:
        payment = _locked(uow, payment.id)
        _store_initiation(uow, payment, initiated)
    return _answer(payment, created=True)


def _initiate(
    client: PaynowClient, payment: Payment, payable: Payable, email: str | None
) -> Initiated:
    common = {
        "reference": payment.id,
        "amount": payment.amount,
        "additional_info": f"Invoice {payable.invoice_number or payable.invoice_id}",
        "auth_email": email or config.PAYNOW_AUTH_EMAIL.get(),
        "return_url": return_url(payable.payment_token, payment.id),
        "result_url": result_url(),
    }
    if payment.method in EXPRESS:
        return client.initiate_express(
            **common, phone=payment.phone or "", method=EXPRESS[payment.method]
        )
    return client.initiate_web(**common)


def _locked(uow: UnitOfWork, payment_id: str) -> Payment:
    payment = status.lock(uow, payment_id)
    if payment is None:  # payments are never deleted
        raise RuntimeError(f"payment {payment_id} vanished")
    return payment


def _store_initiation(uow: UnitOfWork, payment: Payment, initiated: Initiated) -> None:
    """What Paynow answered. A status post may have been applied meanwhile (it can name the
    poll URL before this commit): the status is left as it is."""
    payment.poll_url = payment.poll_url or initiated.poll_url
    payment.external_id = payment.external_id or initiated.paynow_reference
    payment.browser_url = initiated.browser_url
    payment.instructions = initiated.instructions
    payment.authorization_code = initiated.authorization_code
    if payment.status == PaymentStatus.PENDING:
        payment.next_poll_at = utcnow() + status.poll_interval()
    uow.audit(
        "payment.started",
        "Payment",
        payment.id,
        {"paynow_reference": initiated.paynow_reference},
        organization_id=payment.organization_id,
    )


# --- what the pay page reads ----------------------------------------------------------------


def describe_payment_link(store: Transactions, token: str, link_of: LinkLookup) -> dict[str, Any]:
    link = link_of(token)
    with store.transaction() as uow:
        live = live_attempt(uow, link["invoice"]["id"])
        return {
            "state": link["state"],
            "invoice": link_invoice(link["invoice"]),
            "live_payment": CheckoutPaymentSchema().dump(live) if live else None,
        }


def get_payment_by_token(
    store: Transactions, token: str, payment_id: str, link_of: LinkLookup
) -> dict[str, Any]:
    """A payment of the link's invoice, whatever the link's state (the payer coming back
    from Paynow finds the invoice paid)."""
    link = link_of(token)
    with store.transaction() as uow:
        payment = uow.session.get(Payment, payment_id) if is_cuid(payment_id) else None
        if payment is None or payment.invoice_id != link["invoice"]["id"]:
            raise NotFound("payment not found", {"payment_id": ["not found"]})
        return CheckoutPaymentSchema().dump(payment)
