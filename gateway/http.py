"""Everything HTTP that is not a route: JSON errors in one shape, request ids, CORS, the
body-size limit, JSON body parsing, and the route table that OpenAPI is built from.

Error shape, everywhere (404s and 405s from routing included):
    {"error": {"code": "...", "message": "...", "fields": {...}, "request_id": "..."}}
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import eventlet
from eventlet.event import Event
from marshmallow import Schema
from nameko.exceptions import RemoteError, UnknownService
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from shared import config, context
from shared.errors import BadRequest, DomainError, Unavailable, UnsupportedMediaType
from shared.ids import cuid
from shared.schemas import load

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID_ENVIRON = "cvt.request_id"
_EXTRA_HEADERS_ENVIRON = "cvt.extra_headers"
# Fits AuditLog.request_id (64); anything else is replaced by an id of our own.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
MAX_USER_AGENT = 512
_PATH_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
RPC_TIMEOUT_SECONDS = 10.0

CORS_ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_ALLOWED_HEADERS = (
    "Authorization, Content-Type, X-Request-Id, X-API-Key, X-CSRF-Token, Idempotency-Key"
)
CORS_EXPOSED_HEADERS = (
    "X-Request-Id, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, "
    "Idempotent-Replayed"
)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status=status,
        headers=headers,
        mimetype="application/json",
    )


def error_response(
    status: int, code: str, message: str, request_id: str, fields: dict[str, Any] | None = None
) -> Response:
    error: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if fields:
        error["fields"] = fields
    return json_response(status, {"error": error})


_CODE_BY_STATUS = {cls.status: cls.code for cls in DomainError.__subclasses__()}


def _http_error_code(exc: HTTPException) -> str:
    return _CODE_BY_STATUS.get(exc.code or 400) or re.sub(r"\W+", "_", (exc.name or "").lower())


def response_for_exception(exc: BaseException, request_id: str) -> Response:
    """The one place where an exception becomes an HTTP answer."""
    if isinstance(exc, DomainError):
        response = error_response(exc.status, exc.code, exc.message, request_id, exc.fields)
        retry_after = exc.retry_after or (5 if isinstance(exc, Unavailable) else None)
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response
    if isinstance(exc, HTTPException) and exc.code is not None and exc.code < 500:
        return error_response(exc.code, _http_error_code(exc), exc.description or "", request_id)
    if isinstance(exc, UnknownService | eventlet.Timeout):
        return error_response(503, "unavailable", "a service is not available", request_id)
    if isinstance(exc, RemoteError):
        log.error("service error behind the gateway: %s", exc)
    else:
        log.exception("unexpected error in the gateway", exc_info=exc)
    return error_response(500, "internal", "internal error; quote the request id", request_id)


def request_id_of(request: Request) -> str:
    return request.environ[_REQUEST_ID_ENVIRON]


def add_response_headers(request: Request, headers: dict[str, str]) -> None:
    """Headers for this request's answer, whatever it turns out to be (errors included)."""
    request.environ[_EXTRA_HEADERS_ENVIRON].update(headers)


def call_context_of(request: Request) -> context.CallContext:
    return context.CallContext(
        request_id=request_id_of(request),
        actor_type="anonymous",
        client_ip=request.remote_addr,
        user_agent=(request.headers.get("User-Agent") or "")[:MAX_USER_AGENT] or None,
    )


def read_json(request: Request, schema: Schema) -> dict[str, Any]:
    """Parse and validate a JSON object body; returns it as sent (services validate again)."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            "send the body as application/json", {"Content-Type": ["must be application/json"]}
        )
    try:
        data = json.loads(request.get_data(cache=True) or b"")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("malformed JSON", {"_body": [f"not valid JSON: {exc}"]}) from exc
    load(schema, data)
    return data


class ApiWsgiApp:
    """Routing with JSON errors, request ids, CORS and the body limit, before any worker."""

    def __init__(self, server: ApiWebServer) -> None:
        self.url_map = server.make_url_map()
        self.max_body_bytes = int(config.MAX_BODY_BYTES.get())
        self.origins = config.cors_origins()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ, shallow=True)
        request.max_content_length = self.max_body_bytes
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = given if _VALID_REQUEST_ID.match(given) else cuid()
        environ[_REQUEST_ID_ENVIRON] = request_id
        environ[_EXTRA_HEADERS_ENVIRON] = {}
        # This greenthread serves the request; binding makes its access-log line carry the id.
        context.bind(context.CallContext(request_id=request_id))
        response = self._dispatch(request, request_id)
        response.headers[REQUEST_ID_HEADER] = request_id
        response.headers.update(environ[_EXTRA_HEADERS_ENVIRON])
        self._add_cors_headers(request, response)
        return response(environ, start_response)

    def _dispatch(self, request: Request, request_id: str) -> Response:
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return Response(status=204)
        if (request.content_length or 0) > self.max_body_bytes:
            return error_response(
                413, "payload_too_large", f"body over {self.max_body_bytes} bytes", request_id
            )
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            provider, values = adapter.match()
        except HTTPException as exc:
            return response_for_exception(exc, request_id)
        request.path_values = values
        return provider.handle_request(request)

    def _add_cors_headers(self, request: Request, response: Response) -> None:
        origin = (request.headers.get("Origin") or "").rstrip("/")
        response.vary.add("Origin")
        if not origin or origin not in self.origins:
            return
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = CORS_ALLOWED_METHODS
            response.headers["Access-Control-Allow-Headers"] = CORS_ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"


class ApiWebServer(WebServer):
    def get_wsgi_app(self) -> ApiWsgiApp:
        return ApiWsgiApp(self)


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    summary: str
    access: Any
    request: type[Schema] | None = None
    response: type[Schema] | None = None
    many: bool = False
    status: int = 200
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def template(self) -> str:
        """The path as OpenAPI writes it: `/v1/organizations/{org_id}`."""
        return _PATH_PARAM.sub(r"{\1}", self.path)

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)


ROUTES: list[RouteSpec] = []


class JsonRoute(HttpRequestHandler):
    """A route whose handler takes `(request, **path_values[, body])` and returns a JSON-able
    payload, `(status, payload)`, or a werkzeug `Response` (for HTML pages)."""

    server = ApiWebServer()

    def __init__(self, method: str, url: str, spec: RouteSpec, **kwargs: Any) -> None:
        # Domain errors are answers, not faults: nameko logs them as warnings.
        kwargs.setdefault("expected_exceptions", DomainError)
        super().__init__(method, url, **kwargs)
        self.spec = spec

    def handle_request(self, request: Request) -> Response:
        request.shallow = False
        request_id = request_id_of(request)
        try:
            kwargs = dict(request.path_values)
            args = (request,)
            self.check_signature(args, kwargs)
            event = Event()
            self.container.spawn_worker(
                self,
                args,
                kwargs,
                context_data=call_context_of(request).to_context_data(),
                handle_result=partial(self.handle_result, event),
            )
            return self.response_from_result(event.wait())
        except Exception as exc:
            return response_for_exception(exc, request_id)

    def response_from_result(self, result: Any) -> Response:
        if isinstance(result, Response):
            return result
        status, payload = result if isinstance(result, tuple) else (self.spec.status, result)
        if payload is None:
            return Response(status=status)
        return json_response(status, payload)


def call(method: Any, *args: Any, timeout: float = RPC_TIMEOUT_SECONDS) -> Any:
    """An RPC call with a deadline, so a stopped service answers 503 instead of hanging."""
    reply = method.call_async(*args)
    with eventlet.Timeout(timeout, Unavailable("a service did not answer in time")):
        return reply.result()
