"""Payments: staff record bank transfers and cash (Paynow follows)."""

from __future__ import annotations

from werkzeug.wrappers import Request

from gateway.access import STAFF
from gateway.routing import STAFF_TAGS, Gateway, RouteTable
from services.payments import schemas as payments
from shared.rpc import call

routes = RouteTable("payments")


@routes.add(
    "POST",
    "/v1/admin/organizations/<org_id>/payments",
    summary="Record a bank transfer or cash payment of one of the organization's invoices",
    access=STAFF,
    request=payments.ManualPaymentSchema,
    response=payments.PaymentSchema,
    status=201,
    errors=[409],
    tags=STAFF_TAGS,
)
def record_payment(gateway: Gateway, request: Request, org_id: str, body: dict) -> dict:
    return call(gateway.payments.record_manual_payment, org_id, body)
