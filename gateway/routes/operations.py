"""Operations: is the gateway up, is the suite ready, and this API, described."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from gateway import openapi, readiness
from gateway.access import PUBLIC
from gateway.pages import DOCS_PAGE
from gateway.routing import HTML, Gateway, RouteTable
from gateway.schemas import HealthSchema, ReadySchema
from shared import config

routes = RouteTable("operations")


@routes.add(
    "GET",
    "/v1/health",
    summary="The gateway process is up",
    access=PUBLIC,
    response=HealthSchema,
    local=True,
)
def health(gateway: Gateway, request: Request) -> dict[str, str]:
    return {"status": "ok"}


@routes.add(
    "GET",
    "/v1/ready",
    summary="Broker and every service answer",
    access=PUBLIC,
    response=ReadySchema,
)
def ready(gateway: Gateway, request: Request) -> dict[str, Any]:
    health_methods = {name: getattr(gateway, name).health for name in config.SERVICES}
    return readiness.check_ready(
        config.AMQP_URI.get(), health_methods, float(config.READY_TIMEOUT_SECONDS.get())
    )


@routes.add("GET", "/v1/openapi.json", summary="This API, as OpenAPI 3", access=PUBLIC, local=True)
def openapi_json(gateway: Gateway, request: Request) -> dict[str, Any]:
    return openapi.build_spec(gateway.routes)


@routes.add(
    "GET",
    "/v1/docs",
    summary="This API, as a page for people",
    access=PUBLIC,
    media_type=HTML,
    local=True,
)
def docs(gateway: Gateway, request: Request) -> Response:
    return Response(DOCS_PAGE, mimetype=HTML)
