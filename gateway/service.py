"""The gateway's routes. Each one is authenticated (see `access`), calls services over
RPC, and shapes the answer; HTTP plumbing lives in gateway/http.py and gateway/auth.py."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from nameko.events import BROADCAST
from nameko.events import event_handler as nameko_event_handler
from nameko.rpc import RpcProxy
from werkzeug.wrappers import Request, Response

from gateway import openapi, readiness
from gateway.auth import (
    CSRF_COOKIE,
    PUBLIC,
    SESSION_COOKIE,
    SIGNED_IN,
    STAFF,
    Authenticator,
    members_who_may,
    terminals_with,
)
from gateway.http import ROUTES, json_response
from gateway.idempotency import IdempotencyKeys
from gateway.routing import route
from gateway.schemas import (
    HealthSchema,
    OrganizationDetailSchema,
    PageSchema,
    ReadySchema,
    StatusSchema,
)
from gateway.usage import UsageRecorder, accept_usage
from services.billing import schemas as billing_schemas
from services.billing.invoicing import invoice_html
from services.identity import schemas as id_schemas
from services.metering import schemas as metering_schemas
from services.payments import schemas as payments_schemas
from shared import config, context
from shared.authorization import (
    DELETE_ORGANIZATION,
    MANAGE_API_KEYS,
    MANAGE_MEMBERS,
    MANAGE_ORGANIZATION,
    TRANSFER_OWNERSHIP,
    VIEW_BILLING,
    VIEW_MEMBERS,
    VIEW_ORGANIZATION,
    VIEW_SERVICES,
    VIEW_USAGE,
)
from shared.dependencies import CallContextProvider
from shared.errors import NotFound, Unavailable
from shared.rpc import call

BILLING_STATUS_TIMEOUT = 3.0
# A billing run invoices every organization in one call.
LONG_RUN_TIMEOUT = 600.0
OPS, AUTH, ORGS, MEMBERS, KEYS, TERMINAL, ADMIN = (
    ("operations",), ("authentication",), ("organizations",), ("members",),
    ("api keys",), ("terminals",), ("staff",),
)  # fmt: skip
BILLING = ("billing",)
# OWASP's device cookie (services/identity/devices.py): sent back only when signing in.
DEVICE_COOKIE = "cvt_device"
DEVICE_COOKIE_PATH = "/v1/auth/sign-in"


def _with_session_cookies(body: dict[str, Any]) -> Response:
    response = json_response(200, body)
    expires = datetime.fromisoformat(body["expires_at"])
    for name, value, httponly in (
        (SESSION_COOKIE, body["token"], True),
        # Readable by the page's script, which echoes it in X-CSRF-Token.
        (CSRF_COOKIE, body["csrf_token"], False),
    ):
        response.set_cookie(
            name, value, expires=expires, httponly=httponly, secure=True, samesite="Lax", path="/"
        )
    response.set_cookie(
        DEVICE_COOKIE,
        body["device_token"],
        expires=datetime.fromisoformat(body["device_expires_at"]),
        httponly=True,
        secure=True,
        samesite="Lax",
        path=DEVICE_COOKIE_PATH,
    )
    return response


def _with_device_token(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """The sign-in body, with the browser's device cookie unless the body names a device
    itself. A cookie that cannot be a device token is ignored: the client is simply not
    recognised, as if it had none."""
    cookie = request.cookies.get(DEVICE_COOKIE, "")
    if "device_token" in body or not re.fullmatch(id_schemas.DEVICE_TOKEN_PATTERN, cookie):
        return body
    return {**body, "device_token": cookie}


def _without_session_cookies(body: dict[str, Any]) -> Response:
    response = json_response(200, body)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=True, samesite="Lax")
    return response


class GatewayService:
    name = "gateway"
    call_context = CallContextProvider()
    auth = Authenticator()
    usage = UsageRecorder()
    idempotency = IdempotencyKeys()

    identity = RpcProxy("identity")
    billing = RpcProxy("billing")
    metering = RpcProxy("metering")
    payments = RpcProxy("payments")
    support = RpcProxy("support")
    notifications = RpcProxy("notifications")

    @nameko_event_handler(
        "identity", "api_key.revoked", handler_type=BROADCAST, reliable_delivery=False
    )
    def forget_revoked_api_key(self, payload: dict[str, Any]) -> None:
        self.auth.forget_api_key(payload["api_key_id"])

    @nameko_event_handler(
        "billing", "billing_account.suspended", handler_type=BROADCAST, reliable_delivery=False
    )
    def refuse_suspended_organization(self, payload: dict[str, Any]) -> None:
        self.auth.note_suspension(payload["organization_id"], suspended=True)

    @nameko_event_handler(
        "billing", "billing_account.reactivated", handler_type=BROADCAST, reliable_delivery=False
    )
    def admit_reactivated_organization(self, payload: dict[str, Any]) -> None:
        self.auth.note_suspension(payload["organization_id"], suspended=False)

    @nameko_event_handler(
        "metering", "event_types.changed", handler_type=BROADCAST, reliable_delivery=False
    )
    def forget_event_types(self, payload: dict[str, Any]) -> None:
        self.usage.forget_event_types()

    # Operations

    @route(
        "GET",
        "/v1/health",
        summary="The gateway process is up",
        access=PUBLIC,
        response=HealthSchema,
        tags=OPS,
    )
    def health(self, request: Request) -> dict[str, str]:
        return {"status": "ok"}

    @route(
        "GET",
        "/v1/ready",
        summary="Broker and every service answer",
        access=PUBLIC,
        response=ReadySchema,
        tags=OPS,
    )
    def ready(self, request: Request) -> dict[str, Any]:
        health_methods = {name: getattr(self, name).health for name in config.SERVICES}
        return readiness.check_ready(
            config.AMQP_URI.get(), health_methods, float(config.READY_TIMEOUT_SECONDS.get())
        )

    @route("GET", "/v1/openapi.json", summary="This API, as OpenAPI 3", access=PUBLIC, tags=OPS)
    def openapi_json(self, request: Request) -> dict[str, Any]:
        return openapi.build_spec(ROUTES)

    @route("GET", "/v1/docs", summary="This API, as a page for people", access=PUBLIC, tags=OPS)
    def docs(self, request: Request) -> Response:
        return Response(openapi.DOCS_PAGE, mimetype="text/html")

    # Authentication

    @route(
        "POST",
        "/v1/auth/sign-up",
        summary="Create an account; a verification email follows (same answer for taken "
        "addresses, whose owner is told instead)",
        access=PUBLIC,
        request=id_schemas.SignUpSchema,
        response=StatusSchema,
        status=202,
        tags=AUTH,
    )
    def sign_up(self, request: Request, body: dict[str, Any]) -> tuple[int, Any]:
        call(self.identity.sign_up, body)
        return 202, {"status": "check your email to continue"}

    @route(
        "POST",
        "/v1/auth/verify-email",
        summary="Confirm an email address with its token",
        access=PUBLIC,
        request=id_schemas.TokenSchema,
        response=id_schemas.UserSchema,
        tags=AUTH,
    )
    def verify_email(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return call(self.identity.verify_email, body)

    @route(
        "POST",
        "/v1/auth/verify-email/resend",
        summary="Email another verification link (same answer for unknown addresses)",
        access=PUBLIC,
        request=id_schemas.EmailSchema,
        response=StatusSchema,
        status=202,
        tags=AUTH,
    )
    def resend_verification(self, request: Request, body: dict[str, Any]) -> tuple[int, Any]:
        call(self.identity.request_verification_email, body)
        return 202, {"status": "if the address has an unverified account, a link is on its way"}

    @route(
        "POST",
        "/v1/auth/sign-in",
        summary="Sign in: a Bearer token and a device token; for browsers HttpOnly session, "
        "CSRF and device cookies",
        access=PUBLIC,
        request=id_schemas.SignInSchema,
        response=id_schemas.SignedInSchema,
        tags=AUTH,
    )
    def sign_in(self, request: Request, body: dict[str, Any]) -> Response:
        signed_in = call(self.identity.sign_in, _with_device_token(request, body))
        return _with_session_cookies(signed_in)

    @route(
        "POST",
        "/v1/auth/sign-out",
        summary="End this session",
        access=SIGNED_IN,
        response=StatusSchema,
        tags=AUTH,
    )
    def sign_out(self, request: Request) -> Response:
        call(self.identity.sign_out)
        return _without_session_cookies({"status": "signed out"})

    @route(
        "POST",
        "/v1/auth/sign-out-everywhere",
        summary="End every session of yours",
        access=SIGNED_IN,
        response=StatusSchema,
        tags=AUTH,
    )
    def sign_out_everywhere(self, request: Request) -> Response:
        ended = call(self.identity.sign_out_everywhere)
        return _without_session_cookies({"status": f"{ended} session(s) ended"})

    @route(
        "GET",
        "/v1/auth/sessions",
        summary="Your sessions",
        access=SIGNED_IN,
        response=id_schemas.SessionSchema,
        many=True,
        tags=AUTH,
    )
    def list_sessions(self, request: Request) -> list[dict[str, Any]]:
        return call(self.identity.list_sessions)

    @route(
        "POST",
        "/v1/auth/password",
        summary="Change your password (ends your other sessions)",
        access=SIGNED_IN,
        request=id_schemas.PasswordChangeSchema,
        response=StatusSchema,
        tags=AUTH,
    )
    def change_password(self, request: Request, body: dict[str, Any]) -> dict[str, str]:
        call(self.identity.change_password, body)
        return {"status": "password changed"}

    @route(
        "POST",
        "/v1/auth/password-reset/request",
        summary="Email a password-reset link (same answer for unknown addresses)",
        access=PUBLIC,
        request=id_schemas.EmailSchema,
        response=StatusSchema,
        status=202,
        tags=AUTH,
    )
    def request_password_reset(self, request: Request, body: dict[str, Any]) -> tuple[int, Any]:
        call(self.identity.request_password_reset, body)
        return 202, {"status": "if the address has an account, a reset link is on its way"}

    @route(
        "POST",
        "/v1/auth/password-reset/confirm",
        summary="Set a new password with the emailed token (ends every session)",
        access=PUBLIC,
        request=id_schemas.PasswordResetSchema,
        response=StatusSchema,
        tags=AUTH,
    )
    def reset_password(self, request: Request, body: dict[str, Any]) -> dict[str, str]:
        call(self.identity.reset_password, body)
        return {"status": "password changed"}

    @route(
        "GET",
        "/v1/me",
        summary="You, and your organizations with your role in each",
        access=SIGNED_IN,
        response=id_schemas.MeSchema,
        tags=AUTH,
    )
    def me(self, request: Request) -> dict[str, Any]:
        return call(self.identity.get_me)

    # Organizations

    @route(
        "POST",
        "/v1/organizations",
        summary="Create an organization; you become its OWNER",
        access=SIGNED_IN,
        request=id_schemas.OrganizationCreateSchema,
        response=id_schemas.OrganizationSchema,
        status=201,
        tags=ORGS,
    )
    def create_organization(self, request: Request, body: dict[str, Any]) -> tuple[int, Any]:
        return 201, call(self.identity.create_organization, body)

    @route(
        "GET",
        "/v1/organizations/<org_id>",
        summary="An organization and its billing status",
        access=members_who_may(VIEW_ORGANIZATION),
        response=OrganizationDetailSchema,
        tags=ORGS,
    )
    def get_organization(self, request: Request, org_id: str) -> dict[str, Any]:
        organization = call(self.identity.get_organization, org_id)
        try:
            account = call(self.billing.get_billing_account, org_id, timeout=BILLING_STATUS_TIMEOUT)
        except (NotFound, Unavailable):
            # Not opened yet (billing reacts to the event), or billing is down: the
            # organization itself is still worth showing.
            account = None
        return {**organization, "billing_account": account}

    @route(
        "PATCH",
        "/v1/organizations/<org_id>",
        summary="Change an organization's details",
        access=members_who_may(MANAGE_ORGANIZATION),
        request=id_schemas.OrganizationUpdateSchema,
        response=id_schemas.OrganizationSchema,
        tags=ORGS,
    )
    def update_organization(self, request: Request, org_id: str, body: dict) -> dict[str, Any]:
        return call(self.identity.update_organization, org_id, body)

    @route(
        "DELETE",
        "/v1/organizations/<org_id>",
        summary="Delete an organization (its members, invitations and API keys go too)",
        access=members_who_may(DELETE_ORGANIZATION),
        status=204,
        tags=ORGS,
    )
    def delete_organization(self, request: Request, org_id: str) -> tuple[int, None]:
        call(self.identity.delete_organization, org_id)
        return 204, None

    @route(
        "POST",
        "/v1/organizations/<org_id>/transfer-ownership",
        summary="Make a member OWNER; you become ADMIN",
        access=members_who_may(TRANSFER_OWNERSHIP),
        request=id_schemas.OwnershipTransferSchema,
        response=id_schemas.MemberSchema,
        tags=ORGS,
    )
    def transfer_ownership(self, request: Request, org_id: str, body: dict) -> dict[str, Any]:
        return call(self.identity.transfer_ownership, org_id, body)

    # Members and invitations

    @route(
        "GET",
        "/v1/organizations/<org_id>/members",
        summary="Members and their roles",
        access=members_who_may(VIEW_MEMBERS),
        response=id_schemas.MemberSchema,
        many=True,
        tags=MEMBERS,
    )
    def list_members(self, request: Request, org_id: str) -> list[dict[str, Any]]:
        return call(self.identity.list_members, org_id)

    @route(
        "PATCH",
        "/v1/organizations/<org_id>/members/<member_id>",
        summary="Change a role",
        access=members_who_may(MANAGE_MEMBERS),
        request=id_schemas.RoleChangeSchema,
        response=id_schemas.MemberSchema,
        tags=MEMBERS,
    )
    def change_member_role(
        self, request: Request, org_id: str, member_id: str, body: dict
    ) -> dict[str, Any]:
        return call(self.identity.change_member_role, org_id, member_id, body)

    @route(
        "DELETE",
        "/v1/organizations/<org_id>/members/<member_id>",
        summary="Remove a member",
        access=members_who_may(MANAGE_MEMBERS),
        status=204,
        tags=MEMBERS,
    )
    def remove_member(self, request: Request, org_id: str, member_id: str) -> tuple[int, None]:
        call(self.identity.remove_member, org_id, member_id)
        return 204, None

    @route(
        "POST",
        "/v1/organizations/<org_id>/invitations",
        summary="Invite someone by email (valid 7 days)",
        access=members_who_may(MANAGE_MEMBERS),
        request=id_schemas.InvitationCreateSchema,
        response=id_schemas.InvitationSchema,
        status=201,
        tags=MEMBERS,
    )
    def invite_member(self, request: Request, org_id: str, body: dict) -> tuple[int, Any]:
        return 201, call(self.identity.invite_member, org_id, body)

    @route(
        "GET",
        "/v1/organizations/<org_id>/invitations",
        summary="Pending invitations",
        access=members_who_may(MANAGE_MEMBERS),
        response=id_schemas.InvitationSchema,
        many=True,
        tags=MEMBERS,
    )
    def list_invitations(self, request: Request, org_id: str) -> list[dict[str, Any]]:
        return call(self.identity.list_invitations, org_id)

    @route(
        "DELETE",
        "/v1/organizations/<org_id>/invitations/<invitation_id>",
        summary="Withdraw an invitation",
        access=members_who_may(MANAGE_MEMBERS),
        status=204,
        tags=MEMBERS,
    )
    def revoke_invitation(
        self, request: Request, org_id: str, invitation_id: str
    ) -> tuple[int, None]:
        call(self.identity.revoke_invitation, org_id, invitation_id)
        return 204, None

    @route(
        "POST",
        "/v1/invitations/accept",
        summary="Accept an invitation sent to your email address",
        access=SIGNED_IN,
        request=id_schemas.TokenSchema,
        response=id_schemas.MemberSchema,
        tags=MEMBERS,
    )
    def accept_invitation(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return call(self.identity.accept_invitation, body)

    # API keys

    @route(
        "POST",
        "/v1/organizations/<org_id>/api-keys",
        summary="Create an API key; the whole key is in this answer only",
        access=members_who_may(MANAGE_API_KEYS),
        request=id_schemas.ApiKeyCreateSchema,
        response=id_schemas.CreatedApiKeySchema,
        status=201,
        tags=KEYS,
    )
    def create_api_key(self, request: Request, org_id: str, body: dict) -> tuple[int, Any]:
        return 201, call(self.identity.create_api_key, org_id, body)

    @route(
        "GET",
        "/v1/organizations/<org_id>/api-keys",
        summary="API keys (prefix, never the key)",
        access=members_who_may(MANAGE_API_KEYS),
        response=id_schemas.ApiKeySchema,
        many=True,
        tags=KEYS,
    )
    def list_api_keys(self, request: Request, org_id: str) -> list[dict[str, Any]]:
        return call(self.identity.list_api_keys, org_id)

    @route(
        "DELETE",
        "/v1/organizations/<org_id>/api-keys/<api_key_id>",
        summary="Revoke an API key (every gateway refuses it at once)",
        access=members_who_may(MANAGE_API_KEYS),
        response=id_schemas.ApiKeySchema,
        tags=KEYS,
    )
    def revoke_api_key(self, request: Request, org_id: str, api_key_id: str) -> dict[str, Any]:
        return call(self.identity.revoke_api_key, org_id, api_key_id)

    # Terminals

    @route(
        "GET",
        "/v1/terminal/whoami",
        summary="The organization and scopes of this API key",
        access=terminals_with("pos:read"),
        response=id_schemas.TerminalIdentitySchema,
        tags=TERMINAL,
    )
    def terminal_whoami(self, request: Request) -> dict[str, Any]:
        ctx = context.current()
        return {
            "organization_id": ctx.organization_id,
            "api_key_id": ctx.actor_id,
            "scopes": list(ctx.scopes),
        }

    @route(
        "POST",
        "/v1/usage-events",
        summary="Report usage: one event or a batch; 202 once the events are safe",
        access=terminals_with("usage:write"),
        request=metering_schemas.UsageBatchSchema,
        response=metering_schemas.UsageAcceptedSchema,
        status=202,
        tags=TERMINAL,
    )
    def report_usage(self, request: Request, body: dict[str, Any]) -> tuple[int, Any]:
        known = self.usage.event_types(lambda: call(self.metering.active_event_types))
        return accept_usage(self.usage, body, known)

    @route(
        "GET",
        "/v1/organizations/<org_id>/usage",
        summary="Usage (?from=&to=&group_by=day|event_type|api_key|invoice)",
        access=members_who_may(VIEW_USAGE),
        response=metering_schemas.UsageReportSchema,
        tags=ORGS,
    )
    def usage_report(self, request: Request, org_id: str) -> dict[str, Any]:
        return call(self.metering.usage_report, org_id, dict(request.args))

    # Billing

    @route(
        "GET",
        "/v1/organizations/<org_id>/services",
        summary="What the organization leases",
        access=members_who_may(VIEW_SERVICES),
        response=billing_schemas.ServiceSchema,
        many=True,
        tags=BILLING,
    )
    def list_services(self, request: Request, org_id: str) -> list[dict[str, Any]]:
        return call(self.billing.list_services, org_id)

    @route(
        "GET",
        "/v1/organizations/<org_id>/billing-account",
        summary="Balance (cents; positive = credit) and status",
        access=members_who_may(VIEW_BILLING),
        response=billing_schemas.BillingAccountSchema,
        tags=BILLING,
    )
    def billing_account(self, request: Request, org_id: str) -> dict[str, Any]:
        return call(self.billing.get_billing_account, org_id)

    @route(
        "GET",
        "/v1/organizations/<org_id>/invoices",
        summary="Invoices, newest first (?status=&limit=&offset=)",
        access=members_who_may(VIEW_BILLING),
        response=billing_schemas.InvoicePageSchema,
        tags=BILLING,
    )
    def list_invoices(self, request: Request, org_id: str) -> dict[str, Any]:
        return call(self.billing.list_invoices, org_id, dict(request.args))

    @route(
        "GET",
        "/v1/organizations/<org_id>/invoices/<invoice_id>",
        summary="An invoice with its line items",
        access=members_who_may(VIEW_BILLING),
        response=billing_schemas.InvoiceDetailSchema,
        tags=BILLING,
    )
    def get_invoice(self, request: Request, org_id: str, invoice_id: str) -> dict[str, Any]:
        return call(self.billing.get_invoice, org_id, invoice_id)

    @route(
        "GET",
        "/v1/organizations/<org_id>/invoices/<invoice_id>/html",
        summary="An invoice as a printable page",
        access=members_who_may(VIEW_BILLING),
        tags=BILLING,
    )
    def invoice_page(self, request: Request, org_id: str, invoice_id: str) -> Response:
        invoice = call(self.billing.get_invoice, org_id, invoice_id)
        organization = call(self.identity.get_organization, org_id)
        return Response(invoice_html(invoice, organization), mimetype="text/html")

    @route(
        "GET",
        "/v1/organizations/<org_id>/credits",
        summary="Credits issued to the organization",
        access=members_who_may(VIEW_BILLING),
        response=billing_schemas.CreditSchema,
        many=True,
        tags=BILLING,
    )
    def list_credits(self, request: Request, org_id: str) -> list[dict[str, Any]]:
        return call(self.billing.list_credits, org_id)

    # Staff

    @route(
        "GET",
        "/v1/admin/organizations",
        summary="Every organization (?q=, ?limit=, ?offset=)",
        access=STAFF,
        response=PageSchema,
        tags=ADMIN,
    )
    def admin_list_organizations(self, request: Request) -> dict[str, Any]:
        return call(self.identity.list_all_organizations, dict(request.args))

    @route(
        "GET",
        "/v1/admin/users",
        summary="Every user (?q=, ?limit=, ?offset=)",
        access=STAFF,
        response=PageSchema,
        tags=ADMIN,
    )
    def admin_list_users(self, request: Request) -> dict[str, Any]:
        return call(self.identity.list_all_users, dict(request.args))

    @route(
        "GET",
        "/v1/admin/event-types",
        summary="The usage event types terminals may report",
        access=STAFF,
        response=metering_schemas.EventTypeSchema,
        many=True,
        tags=ADMIN,
    )
    def admin_list_event_types(self, request: Request) -> list[dict[str, Any]]:
        return call(self.metering.list_event_types)

    @route(
        "POST",
        "/v1/admin/event-types",
        summary="Register a usage event type",
        access=STAFF,
        request=metering_schemas.EventTypeSchema,
        response=metering_schemas.EventTypeSchema,
        status=201,
        tags=ADMIN,
    )
    def admin_create_event_type(self, request: Request, body: dict[str, Any]) -> tuple[int, Any]:
        return 201, call(self.metering.create_event_type, body)

    @route(
        "PATCH",
        "/v1/admin/event-types/<name>",
        summary="Describe, retire or restore a usage event type",
        access=STAFF,
        request=metering_schemas.EventTypeUpdateSchema,
        response=metering_schemas.EventTypeSchema,
        tags=ADMIN,
    )
    def admin_update_event_type(self, request: Request, name: str, body: dict) -> dict[str, Any]:
        return call(self.metering.update_event_type, name, body)

    @route(
        "POST",
        "/v1/admin/organizations/<org_id>/services",
        summary="Lease a service to an organization",
        access=STAFF,
        request=billing_schemas.ServiceCreateSchema,
        response=billing_schemas.ServiceSchema,
        status=201,
        tags=ADMIN,
    )
    def admin_add_service(self, request: Request, org_id: str, body: dict) -> tuple[int, Any]:
        return 201, call(self.billing.add_service, org_id, body)

    @route(
        "POST",
        "/v1/admin/services/<service_id>/<any(suspend, reactivate, cancel):action>",
        summary="Suspend, reactivate or cancel a service (optional effective time `at`)",
        access=STAFF,
        request=billing_schemas.ServiceChangeSchema,
        response=billing_schemas.ServiceSchema,
        tags=ADMIN,
    )
    def admin_change_service(
        self, request: Request, service_id: str, action: str, body: dict
    ) -> dict[str, Any]:
        return call(self.billing.change_service, service_id, action, body)

    @route(
        "POST",
        "/v1/admin/billing-runs",
        summary="Invoice every organization for a month (idempotent)",
        access=STAFF,
        request=billing_schemas.BillingRunSchema,
        response=billing_schemas.RunResultSchema,
        tags=ADMIN,
    )
    def admin_run_billing(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return {"rows": call(self.billing.run_billing, body, timeout=LONG_RUN_TIMEOUT)}

    @route(
        "POST",
        "/v1/admin/overdue-runs",
        summary="Move overdue invoices and accounts along, as of a date (idempotent)",
        access=STAFF,
        request=billing_schemas.OverdueRunSchema,
        response=billing_schemas.RunResultSchema,
        tags=ADMIN,
    )
    def admin_run_overdue(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return {"rows": call(self.billing.run_overdue, body, timeout=LONG_RUN_TIMEOUT)}

    @route(
        "POST",
        "/v1/admin/invoices/<invoice_id>/void",
        summary="Void an unpaid invoice (it stays on record)",
        access=STAFF,
        response=billing_schemas.InvoiceSchema,
        tags=ADMIN,
    )
    def admin_void_invoice(self, request: Request, invoice_id: str) -> dict[str, Any]:
        return call(self.billing.void_invoice, invoice_id)

    @route(
        "POST",
        "/v1/admin/organizations/<org_id>/credits",
        summary="Issue a credit (applied to the next invoices)",
        access=STAFF,
        request=billing_schemas.CreditCreateSchema,
        response=billing_schemas.CreditSchema,
        status=201,
        tags=ADMIN,
    )
    def admin_issue_credit(self, request: Request, org_id: str, body: dict) -> tuple[int, Any]:
        return 201, call(self.billing.issue_credit, org_id, body)

    @route(
        "POST",
        "/v1/admin/organizations/<org_id>/payments",
        summary="Record a bank transfer or cash payment",
        access=STAFF,
        request=payments_schemas.ManualPaymentSchema,
        response=payments_schemas.PaymentSchema,
        status=201,
        tags=ADMIN,
    )
    def admin_record_payment(self, request: Request, org_id: str, body: dict) -> tuple[int, Any]:
        return 201, call(self.payments.record_manual_payment, org_id, body)

    @route(
        "GET",
        "/v1/admin/billing-settings",
        summary="Billing settings and the usage price table",
        access=STAFF,
        response=billing_schemas.BillingSettingsSchema,
        tags=ADMIN,
    )
    def admin_billing_settings(self, request: Request) -> dict[str, Any]:
        return call(self.billing.get_settings)

    @route(
        "PATCH",
        "/v1/admin/billing-settings",
        summary="Change billing settings and prices",
        access=STAFF,
        request=billing_schemas.BillingSettingsSchema,
        response=billing_schemas.BillingSettingsSchema,
        tags=ADMIN,
    )
    def admin_update_billing_settings(self, request: Request, body: dict) -> dict[str, Any]:
        return call(self.billing.update_settings, body)
