"""/v1/openapi.json, generated from the routes' declarations and the marshmallow schemas:
each operation's parameters (path, query, Idempotency-Key), body, answer, security as
the gateway checks it, and every error status it can answer with, in the one error shape."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from gateway.access import Access
from gateway.idempotency import HEADER as IDEMPOTENCY_HEADER
from gateway.idempotency import KEY_PATTERN as IDEMPOTENCY_KEY_PATTERN
from gateway.routing import HTML, JSON, TEXT, WRITES, Route
from gateway.schemas import ErrorSchema
from shared.db import CUID_LENGTH

API_VERSION = "0.2.0"

SECURITY_SCHEMES = {
    "session": {"type": "http", "scheme": "bearer"},
    "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "cvt_session"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}
_PEOPLE = [{"session": []}, {"sessionCookie": []}]
_TERMINALS = [{"apiKey": []}]

ERRORS = {
    400: "Malformed JSON body",
    401: "No credentials, or expired, signed-out or revoked ones",
    402: "The organization is suspended for non-payment (API keys)",
    403: "Not allowed: role, staff only, API-key scope, people-only route, missing CSRF "
    "token on a cookie write, or signing in to an account staff disabled",
    404: "Not found, or not yours to see (also a path id that cannot exist)",
    409: "Conflicts with the current state, or this Idempotency-Key is still in progress",
    410: "The payment link has expired",
    413: "Body over MAX_BODY_BYTES",
    415: "Body is not application/json",
    422: "Invalid input: body fields, query parameters or a query string with NUL or lone "
    "surrogates; `fields` names each one",
    429: "Too many requests; see Retry-After",
    503: "A service did not answer in time; see Retry-After",
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
# werkzeug's `<any(suspend, reactivate, cancel):action>`: only those words are routed.
_ONE_OF_WORDS = re.compile(r"<any\(([^)]*)\):(\w+)>")
# How apispec writes a nullable nested schema for OpenAPI 3.0: `anyOf` it and this, which
# any object matches, so nothing of the nested schema would be checked or typed.
_ANY_OBJECT_OR_NULL = {"type": "object", "nullable": True}


def security(access: Access) -> list[dict[str, list[str]]]:
    return (_PEOPLE if access.takes_session else []) + (_TERMINALS if access.takes_api_key else [])


def error_statuses(route: Route) -> list[int]:
    """Every status the gateway or the route's services can refuse it with."""
    statuses = set(route.errors) | {422}  # any query string is gated (shared.input_gate)
    if route.request is not None:
        statuses |= {400, 413, 415}
    if route.path_params:
        statuses.add(404)
    if route.access.kind != "public":
        statuses |= {401, 403}
        if route.method in WRITES:
            statuses.add(409)  # the Idempotency-Key of a retry still in progress
    if route.access.takes_api_key:
        statuses |= {402, 429}
    if not route.local:
        statuses.add(503)
    return sorted(statuses)


def _path_schema(route: Route, name: str) -> dict[str, Any]:
    """Ids are CUIDs; anything else in their place is answered 404 (see shared.input_gate)."""
    if name.endswith("_id"):
        return {"type": "string", "pattern": "^[A-Za-z0-9_-]+$", "maxLength": CUID_LENGTH}
    words = {found: choices for choices, found in _ONE_OF_WORDS.findall(route.path)}
    if name in words:
        return {"type": "string", "enum": [word.strip() for word in words[name].split(",")]}
    return {"type": "string"}


def _parameters(route: Route) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"in": "path", "name": name, "required": True, "schema": _path_schema(route, name)}
        for name in route.path_params
    ]
    if route.query is not None:
        parameters.append({"in": "query", "schema": route.query})
    if route.method in WRITES and route.access.kind != "public":
        parameters.append(
            {
                "in": "header",
                "name": IDEMPOTENCY_HEADER,
                "required": False,
                "description": "Send a retry with the same key to get the first answer again",
                "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
            }
        )
    return parameters


def _success(route: Route) -> dict[str, Any]:
    if route.status == 204:
        return {"description": "Done; no content"}
    if route.media_type in (HTML, TEXT):
        text = {"description": "A page" if route.media_type == HTML else "Received"}
        return text | {"content": {route.media_type: {"schema": {"type": "string"}}}}
    schema: Any = route.response or {"type": "object"}
    return {"description": "Success", "content": {JSON: {"schema": schema}}}


def _error(status: int, page: bool = False) -> dict[str, Any]:
    """In the one error shape; or, where a page route answers it as a page, as that page
    (the gateway's own refusals before the route, such as an impossible path value, stay
    JSON)."""
    content: dict[str, Any] = {JSON: {"schema": "Error"}}
    if page:
        content[HTML] = {"schema": {"type": "string"}}
    response: dict[str, Any] = {"description": ERRORS[status], "content": content}
    if status in (429, 503):
        response["headers"] = _RETRY_AFTER
    return response


def _body(route: Route) -> dict[str, Any]:
    # A body of several shapes (a usage event, or a batch) names them: `one_of`.
    shapes = getattr(route.request, "one_of", ())
    schema: Any = {"oneOf": list(shapes)} if shapes else route.request
    return {"required": True, "content": {route.body_media_type: {"schema": schema}}}


def operation(route: Route) -> dict[str, Any]:
    responses = {str(status): _success(route) for status in sorted({route.status, *route.also})}
    responses |= {
        str(status): _error(status, page=status in route.error_pages)
        for status in error_statuses(route)
    }
    # Named rather than `default`, so that any other status is known to be undocumented.
    responses["500"] = {
        "description": "Unexpected error: quote the request id",
        "content": {JSON: {"schema": "Error"}},
    }
    described: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "description": f"Access: {route.access.describe()}.",
        "security": security(route.access),
        "tags": list(route.tags),
        "parameters": _parameters(route),
        "responses": responses,
    }
    if route.request is not None:
        described["requestBody"] = _body(route)
    return described


def _nullable_nested(converter: Any, field: Any, ret: dict[str, Any], **_: Any) -> dict[str, Any]:
    """A nullable nested schema as OpenAPI 3.0 clients read it, `allOf: [X], nullable`, in
    place of apispec's `anyOf: [X, any object or null]` (rewritten in `ret`)."""
    branches = ret.get("anyOf", [])
    if _ANY_OBJECT_OR_NULL in branches:
        del ret["anyOf"]
        ret["allOf"] = [branch for branch in branches if branch != _ANY_OBJECT_OR_NULL]
        ret["nullable"] = True
    return {}


def build_spec(routes: Iterable[Route]) -> dict[str, Any]:
    marshmallow = MarshmallowPlugin()
    spec = APISpec(
        title="CVT ERP API",
        version=API_VERSION,
        openapi_version="3.0.3",
        plugins=[marshmallow],
        info={"description": "Christus Veritas Technologies ERP. Money is in US cents."},
    )
    marshmallow.converter.add_attribute_function(_nullable_nested)
    spec.components.schema("Error", schema=ErrorSchema)
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    by_path: dict[str, dict[str, Any]] = defaultdict(dict)
    for route in routes:
        by_path[route.template][route.method.lower()] = operation(route)
    for path, operations in sorted(by_path.items()):
        spec.path(path=path, operations=operations)
    return spec.to_dict()
