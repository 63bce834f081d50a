"""Payments: paying an invoice by its payment link (the pay page, no sign-in: the token is
the authority) or as a member; Paynow's status posts; the payment lists; and staff's
bank transfers, cash and checks with Paynow."""

from __future__ import annotations

from typing import Any

from nameko.exceptions import UnknownService
from werkzeug.wrappers import Request, Response

from gateway.access import PUBLIC, STAFF, members_who_may
from gateway.pages import pay_html, pay_refusal_html
from gateway.routing import FORM, HTML, STAFF_TAGS, TEXT, Gateway, RouteTable
from gateway.schemas import PaynowStatusPostSchema
from services.payments import schemas as payments
from shared.authorization import PAY_INVOICES, VIEW_BILLING
from shared.errors import NotFound, Unavailable
from shared.rpc import call

routes = RouteTable("payments")


def _started(result: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """201 for a new attempt, 200 for the live one returned in its place."""
    return (201 if result["created"] else 200), result["payment"]


@routes.add(
    "GET",
    "/pay/<token>",
    summary="The pay page of an invoice's payment link (the link in the invoice email)",
    access=PUBLIC,
    media_type=HTML,
    error_pages=[404, 503],
)
def pay_page(gateway: Gateway, request: Request, token: str) -> Response:
    try:
        link = call(gateway.payments.describe_payment_link, token)
    except NotFound:
        return _page(pay_refusal_html(404), 404)
    except (Unavailable, UnknownService):
        return _page(pay_refusal_html(503), 503, {"Retry-After": "5"})
    return _page(pay_html(token, link))


def _page(html: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # The address holds the token: no page it links to (Paynow's) may learn it.
    headers = {"Referrer-Policy": "no-referrer", **(headers or {})}
    return Response(html, status=status, mimetype=HTML, headers=headers)


@routes.add(
    "GET",
    "/v1/pay/<token>",
    summary="What a payment link pays: its invoice, whether it is payable, any live attempt",
    access=PUBLIC,
    response=payments.PaymentLinkSchema,
)
def describe_payment_link(gateway: Gateway, request: Request, token: str) -> dict[str, Any]:
    return call(gateway.payments.describe_payment_link, token)


@routes.add(
    "POST",
    "/v1/pay/<token>/payments",
    summary="Pay a payment link's invoice with Paynow (201 started; 200 the live attempt)",
    access=PUBLIC,
    request=payments.CheckoutSchema,
    response=payments.CheckoutPaymentSchema,
    status=201,
    also=[200],
    errors=[409, 410],
)
def start_checkout_by_token(
    gateway: Gateway, request: Request, token: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    return _started(call(gateway.payments.start_checkout_by_token, token, body))


@routes.add(
    "GET",
    "/v1/pay/<token>/payments/<payment_id>",
    summary="A payment of a payment link's invoice, to follow it to its outcome",
    access=PUBLIC,
    response=payments.CheckoutPaymentSchema,
)
def get_payment_by_token(
    gateway: Gateway, request: Request, token: str, payment_id: str
) -> dict[str, Any]:
    return call(gateway.payments.get_payment_by_token, token, payment_id)


@routes.add(
    "POST",
    "/webhooks/paynow",
    summary="Paynow's status post (the result URL): verified, then confirmed by polling",
    access=PUBLIC,
    request=PaynowStatusPostSchema,
    body_media_type=FORM,
    media_type=TEXT,
)
def paynow_status_post(gateway: Gateway, request: Request, body: str) -> Response:
    call(gateway.payments.receive_status_post, body)
    return Response("OK", mimetype=TEXT)


@routes.add(
    "POST",
    "/v1/organizations/<org_id>/invoices/<invoice_id>/payments",
    summary="Pay an invoice with Paynow (201 started; 200 the live attempt)",
    access=members_who_may(PAY_INVOICES),
    request=payments.CheckoutSchema,
    response=payments.CheckoutPaymentSchema,
    status=201,
    also=[200],
    errors=[409],
)
def start_checkout(
    gateway: Gateway, request: Request, org_id: str, invoice_id: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    return _started(call(gateway.payments.start_checkout, org_id, invoice_id, body))


@routes.add(
    "GET",
    "/v1/organizations/<org_id>/payments",
    summary="The organization's payments, newest first",
    access=members_who_may(VIEW_BILLING),
    query=payments.PaymentQuerySchema,
    response=payments.PaymentPageSchema,
)
def list_payments(gateway: Gateway, request: Request, org_id: str, query: dict) -> dict:
    return call(gateway.payments.list_payments, org_id, query)


@routes.add(
    "GET",
    "/v1/organizations/<org_id>/payments/<payment_id>",
    summary="A payment of the organization",
    access=members_who_may(VIEW_BILLING),
    response=payments.PaymentSchema,
)
def get_payment(gateway: Gateway, request: Request, org_id: str, payment_id: str) -> dict:
    return call(gateway.payments.get_payment, org_id, payment_id)


@routes.add(
    "GET",
    "/v1/admin/payments",
    summary="Every payment, newest first, by status, method, organization, invoice or day",
    access=STAFF,
    query=payments.AllPaymentsQuerySchema,
    response=payments.PaymentPageSchema,
    tags=STAFF_TAGS,
)
def list_all_payments(gateway: Gateway, request: Request, query: dict) -> dict[str, Any]:
    return call(gateway.payments.list_all_payments, query)


@routes.add(
    "POST",
    "/v1/admin/payments/<payment_id>/check",
    summary="Ask Paynow about a payment now and apply what it says",
    access=STAFF,
    response=payments.PaymentSchema,
    errors=[409],
    tags=STAFF_TAGS,
)
def check_payment(gateway: Gateway, request: Request, payment_id: str) -> dict[str, Any]:
    return call(gateway.payments.check_payment, payment_id)


@routes.add(
    "POST",
    "/v1/admin/organizations/<org_id>/payments",
    summary="Record a bank transfer or cash payment: of one of the organization's payable "
    "invoices, or on account (credit)",
    access=STAFF,
    request=payments.ManualPaymentSchema,
    response=payments.PaymentSchema,
    status=201,
    errors=[409],
    tags=STAFF_TAGS,
)
def record_payment(gateway: Gateway, request: Request, org_id: str, body: dict) -> dict:
    return call(gateway.payments.record_manual_payment, org_id, body)
