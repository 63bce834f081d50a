"""Billing: what an organization leases, its account and its ledger, invoices (as data and
as a printable page) and credits; and staff's side: ledgers, grace periods, leases and their
terms, billing and overdue runs, voids, credits and settings."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from gateway.access import STAFF, members_who_may
from gateway.http import json_response
from gateway.pages import invoice_html
from gateway.routing import HTML, STAFF_TAGS, Gateway, RouteTable
from services.billing import schemas as billing
from shared.authorization import VIEW_BILLING, VIEW_SERVICES
from shared.rpc import call
from shared.schemas import PageQuerySchema

# An overdue run moves every overdue account along in one call.
LONG_RUN_TIMEOUT = 600.0

routes = RouteTable("billing")


@routes.add(
    "GET",
    "/v1/organizations/<org_id>/services",
    summary="What the organization leases, by activation",
    access=members_who_may(VIEW_SERVICES),
    query=PageQuerySchema,
    response=billing.ServicePageSchema,
)
def list_services(gateway: Gateway, request: Request, org_id: str, query: dict) -> dict:
    return call(gateway.billing.list_services, org_id, query)


@routes.add(
    "GET",
    "/v1/organizations/<org_id>/billing-account",
    summary="Balance (cents; positive = credit) and status",
    access=members_who_may(VIEW_BILLING),
    response=billing.BillingAccountSchema,
)
def billing_account(gateway: Gateway, request: Request, org_id: str) -> dict[str, Any]:
    return call(gateway.billing.get_billing_account, org_id)


@routes.add(
    "GET",
    "/v1/organizations/<org_id>/invoices",
    summary="Invoices, newest period first",
    access=members_who_may(VIEW_BILLING),
    query=billing.InvoiceQuerySchema,
    response=billing.InvoicePageSchema,
)
def list_invoices(gateway: Gateway, request: Request, org_id: str, query: dict) -> dict:
    return call(gateway.billing.list_invoices, org_id, query)


@routes.add(
    "GET",
    "/v1/organizations/<org_id>/invoices/<invoice_id>",
    summary="An invoice with its line items",
    access=members_who_may(VIEW_BILLING),
    response=billing.InvoiceDetailSchema,
)
def get_invoice(gateway: Gateway, request: Request, org_id: str, invoice_id: str) -> dict:
    return call(gateway.billing.get_invoice, org_id, invoice_id)


@routes.add(
    "GET",
    "/v1/organizations/<org_id>/invoices/<invoice_id>/html",
    summary="An invoice as a printable page",
    access=members_who_may(VIEW_BILLING),
    media_type=HTML,
)
def invoice_page(gateway: Gateway, request: Request, org_id: str, invoice_id: str) -> Response:
    invoice = call(gateway.billing.get_invoice, org_id, invoice_id)
    organization = call(gateway.identity.get_organization, org_id)
    return Response(invoice_html(invoice, organization), mimetype=HTML)


@routes.add(
    "GET",
    "/v1/organizations/<org_id>/credits",
    summary="Credits issued to the organization, newest first",
    access=members_who_may(VIEW_BILLING),
    query=PageQuerySchema,
    response=billing.CreditPageSchema,
)
def list_credits(gateway: Gateway, request: Request, org_id: str, query: dict) -> dict:
    return call(gateway.billing.list_credits, org_id, query)


@routes.add(
    "GET",
    "/v1/organizations/<org_id>/ledger",
    summary="The billing account line by line, oldest first: invoices, payments, credits, "
    "over-payments and voids, each with the balance after it",
    access=members_who_may(VIEW_BILLING),
    query=billing.LedgerQuerySchema,
    response=billing.LedgerPageSchema,
)
def account_ledger(gateway: Gateway, request: Request, org_id: str, query: dict) -> dict:
    return call(gateway.billing.account_ledger, org_id, query)


@routes.add(
    "GET",
    "/v1/admin/organizations/<org_id>/ledger",
    summary="An organization's billing account line by line, oldest first (a deleted "
    "organization's too)",
    access=STAFF,
    query=billing.LedgerQuerySchema,
    response=billing.LedgerPageSchema,
    tags=STAFF_TAGS,
)
def any_account_ledger(gateway: Gateway, request: Request, org_id: str, query: dict) -> dict:
    return call(gateway.billing.account_ledger, org_id, query)


@routes.add(
    "PATCH",
    "/v1/admin/organizations/<org_id>/billing-account",
    summary="Change an account's grace period (days past due before suspension)",
    access=STAFF,
    request=billing.AccountUpdateSchema,
    response=billing.BillingAccountSchema,
    tags=STAFF_TAGS,
)
def update_billing_account(gateway: Gateway, request: Request, org_id: str, body: dict) -> dict:
    return call(gateway.billing.update_account, org_id, body)


@routes.add(
    "POST",
    "/v1/admin/organizations/<org_id>/services",
    summary="Lease a service to an organization",
    access=STAFF,
    request=billing.ServiceCreateSchema,
    response=billing.ServiceSchema,
    status=201,
    errors=[409],
    tags=STAFF_TAGS,
)
def add_service(gateway: Gateway, request: Request, org_id: str, body: dict) -> dict:
    return call(gateway.billing.add_service, org_id, body)


@routes.add(
    "POST",
    "/v1/admin/services/<service_id>/<any(suspend, reactivate, cancel):action>",
    summary="Suspend, reactivate or cancel a service (optional effective time `at`)",
    access=STAFF,
    request=billing.ServiceChangeSchema,
    response=billing.ServiceSchema,
    errors=[409],
    tags=STAFF_TAGS,
)
def change_service(
    gateway: Gateway, request: Request, service_id: str, action: str, body: dict
) -> dict[str, Any]:
    return call(gateway.billing.change_service, service_id, action, body)


@routes.add(
    "PATCH",
    "/v1/admin/services/<service_id>",
    summary="Change a service's monthly fee or name from next month on (UTC); this month "
    "is billed at the terms it started with",
    access=STAFF,
    request=billing.ServiceTermsSchema,
    response=billing.ServiceSchema,
    errors=[409],
    tags=STAFF_TAGS,
)
def update_service(gateway: Gateway, request: Request, service_id: str, body: dict) -> dict:
    return call(gateway.billing.change_service, service_id, "update", body)


@routes.add(
    "POST",
    "/v1/admin/billing-runs",
    summary="Start invoicing every organization for a month: a job, answered at once with "
    "its id (Location); a month with a run under way answers that run",
    access=STAFF,
    request=billing.BillingRunSchema,
    response=billing.BillingRunJobSchema,
    status=202,
    tags=STAFF_TAGS,
)
def start_billing_run(gateway: Gateway, request: Request, body: dict[str, Any]) -> Response:
    run = call(gateway.billing.start_billing_run, body)["run"]
    return json_response(202, run, {"Location": f"/v1/admin/billing-runs/{run['id']}"})


@routes.add(
    "GET",
    "/v1/admin/billing-runs",
    summary="Billing runs, newest first",
    access=STAFF,
    query=PageQuerySchema,
    response=billing.BillingRunPageSchema,
    tags=STAFF_TAGS,
)
def list_billing_runs(gateway: Gateway, request: Request, query: dict) -> dict[str, Any]:
    return call(gateway.billing.list_billing_runs, query)


@routes.add(
    "GET",
    "/v1/admin/billing-runs/<run_id>",
    summary="A billing run's progress: done of total, failures, status and times",
    access=STAFF,
    response=billing.BillingRunDetailSchema,
    tags=STAFF_TAGS,
)
def get_billing_run(gateway: Gateway, request: Request, run_id: str) -> dict[str, Any]:
    return call(gateway.billing.get_billing_run, run_id)


@routes.add(
    "POST",
    "/v1/admin/overdue-runs",
    summary="Move overdue invoices and accounts along, as of a date (idempotent)",
    access=STAFF,
    request=billing.OverdueRunSchema,
    response=billing.OverdueRunResultSchema,
    tags=STAFF_TAGS,
)
def run_overdue(gateway: Gateway, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    return {"rows": call(gateway.billing.run_overdue, body, timeout=LONG_RUN_TIMEOUT)}


@routes.add(
    "POST",
    "/v1/admin/invoices/<invoice_id>/void",
    summary="Void an unpaid invoice (it stays on record)",
    access=STAFF,
    response=billing.InvoiceSchema,
    errors=[409],
    tags=STAFF_TAGS,
)
def void_invoice(gateway: Gateway, request: Request, invoice_id: str) -> dict[str, Any]:
    return call(gateway.billing.void_invoice, invoice_id)


@routes.add(
    "POST",
    "/v1/admin/organizations/<org_id>/credits",
    summary="Issue a credit (applied to the next invoices)",
    access=STAFF,
    request=billing.CreditCreateSchema,
    response=billing.CreditSchema,
    status=201,
    tags=STAFF_TAGS,
)
def issue_credit(gateway: Gateway, request: Request, org_id: str, body: dict) -> dict:
    return call(gateway.billing.issue_credit, org_id, body)


@routes.add(
    "GET",
    "/v1/admin/billing-settings",
    summary="Billing settings and the usage price table",
    access=STAFF,
    response=billing.BillingSettingsSchema,
    tags=STAFF_TAGS,
)
def billing_settings(gateway: Gateway, request: Request) -> dict[str, Any]:
    return call(gateway.billing.get_settings)


@routes.add(
    "PATCH",
    "/v1/admin/billing-settings",
    summary="Change billing settings and prices",
    access=STAFF,
    request=billing.BillingSettingsUpdateSchema,
    response=billing.BillingSettingsSchema,
    tags=STAFF_TAGS,
)
def update_billing_settings(gateway: Gateway, request: Request, body: dict) -> dict[str, Any]:
    return call(gateway.billing.update_settings, body)
