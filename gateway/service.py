"""The gateway's routes. Each one parses, calls services over RPC, and shapes the answer;
HTTP concerns live in gateway/http.py."""

from __future__ import annotations

from typing import Any

from nameko.rpc import RpcProxy
from werkzeug.wrappers import Request, Response

from gateway import openapi, readiness
from gateway.http import ROUTES, call, route
from gateway.schemas import HealthSchema, OrganizationDetailSchema, ReadySchema
from services.identity.schemas import OrganizationCreateSchema, OrganizationSchema
from shared import config
from shared.dependencies import CallContextProvider
from shared.errors import NotFound, Unavailable

BILLING_STATUS_TIMEOUT = 3.0


class GatewayService:
    name = "gateway"
    call_context = CallContextProvider()

    identity = RpcProxy("identity")
    billing = RpcProxy("billing")
    metering = RpcProxy("metering")
    payments = RpcProxy("payments")
    support = RpcProxy("support")
    notifications = RpcProxy("notifications")

    @route(
        "GET",
        "/v1/health",
        summary="The gateway process is up",
        response=HealthSchema,
        tags=("operations",),
    )
    def health(self, request: Request) -> dict[str, str]:
        return {"status": "ok"}

    @route(
        "GET",
        "/v1/ready",
        summary="Broker and every service answer",
        response=ReadySchema,
        tags=("operations",),
    )
    def ready(self, request: Request) -> dict[str, Any]:
        health_methods = {name: getattr(self, name).health for name in config.SERVICES}
        return readiness.check_ready(
            config.AMQP_URI.get(), health_methods, float(config.READY_TIMEOUT_SECONDS.get())
        )

    @route("GET", "/v1/openapi.json", summary="This API, as OpenAPI 3", tags=("operations",))
    def openapi_json(self, request: Request) -> dict[str, Any]:
        return openapi.build_spec(ROUTES)

    @route("GET", "/v1/docs", summary="This API, as a page for people", tags=("operations",))
    def docs(self, request: Request) -> Response:
        return Response(openapi.DOCS_PAGE, mimetype="text/html")

    @route(
        "POST",
        "/v1/organizations",
        summary="Create an organization",
        request=OrganizationCreateSchema,
        response=OrganizationSchema,
        status=201,
        tags=("organizations",),
    )
    def create_organization(self, request: Request, body: dict[str, Any]) -> tuple[int, Any]:
        return 201, call(self.identity.create_organization, body)

    @route(
        "GET",
        "/v1/organizations/<org_id>",
        summary="An organization and its billing status",
        response=OrganizationDetailSchema,
        tags=("organizations",),
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
