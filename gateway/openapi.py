"""/v1/openapi.json, generated from the route table and the marshmallow schemas."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from gateway.http import RouteSpec
from gateway.schemas import ErrorSchema
from shared.db import CUID_LENGTH

API_VERSION = "0.1.0"
DOCS_PAGE = (Path(__file__).parent / "docs.html").read_text()


SECURITY_SCHEMES = {
    "session": {"type": "http", "scheme": "bearer"},
    "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "cvt_session"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}
_PEOPLE = [{"session": []}, {"sessionCookie": []}]
SECURITY = {
    "public": [],
    "signed-in": _PEOPLE,
    "staff": _PEOPLE,
    "organization": [*_PEOPLE, {"apiKey": []}],
    "terminal": [{"apiKey": []}],
}


def _path_schema(name: str) -> dict[str, Any]:
    """Ids are CUIDs; anything else in their place is answered 404 (see shared.input_gate)."""
    if name.endswith("_id"):
        return {"type": "string", "pattern": "^[A-Za-z0-9_-]+$", "maxLength": CUID_LENGTH}
    return {"type": "string"}


def _operation(route: RouteSpec) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "Success"}
    if route.response is not None:
        schema: Any = route.response
        if route.many:
            schema = {"type": "array", "items": route.response}
        ok["content"] = {"application/json": {"schema": schema}}
    operation: dict[str, Any] = {
        "summary": route.summary,
        "description": f"Access: {route.access.describe()}.",
        "security": SECURITY[route.access.kind],
        "tags": list(route.tags),
        "responses": {
            str(route.status): ok,
            "default": {
                "description": "Error (4xx/5xx), always this shape",
                "content": {"application/json": {"schema": "Error"}},
            },
        },
    }
    names = route.path_params
    if names:
        operation["parameters"] = [
            {"in": "path", "name": name, "required": True, "schema": _path_schema(name)}
            for name in names
        ]
    if route.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": route.request}},
        }
    return operation


def build_spec(routes: list[RouteSpec]) -> dict[str, Any]:
    spec = APISpec(
        title="CVT ERP API",
        version=API_VERSION,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "Christus Veritas Technologies ERP. Money is in US cents."},
    )
    spec.components.schema("Error", schema=ErrorSchema)
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    by_path: dict[str, dict[str, Any]] = defaultdict(dict)
    for route in routes:
        by_path[route.template][route.method.lower()] = _operation(route)
    for path, operations in sorted(by_path.items()):
        spec.path(path=path, operations=operations)
    return spec.to_dict()
