"""Everything HTTP that is not a route: JSON errors in one shape, request ids, CORS, the
body-size limit, the input gate for query strings and path values (bodies:
`gateway.request_input`), hardening headers, and the Nameko entrypoint every route is
served by (`JsonRoute`).

Error shape, everywhere (404s and 405s from routing included):
    {"error": {"code": "...", "message": "...", "fields": {...}, "request_id": "..."}}

Every answer carries `X-Content-Type-Options: nosniff` and, unless its route says
otherwise, `Cache-Control: no-store` (sign-in and API-key answers carry secrets; nothing
here is worth a stale copy). HTML pages get a Content-Security-Policy that runs only the
inline scripts and styles of the gateway's own page templates, by hash.
"""

from __future__ import annotations

import json
import logging
import re
from functools import partial
from typing import Any

import eventlet
from eventlet.event import Event
from nameko.exceptions import RemoteError, UnknownService
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from gateway.client_address import client_address, trusted_proxies
from gateway.pages import PAGES, content_security_policy
from shared import config, context, input_gate, metrics
from shared.errors import (
    DomainError,
    NotFound,
    Unavailable,
    ValidationFailed,
)
from shared.ids import cuid

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID_ENVIRON = "cvt.request_id"
_EXTRA_HEADERS_ENVIRON = "cvt.extra_headers"
# Fits AuditLog.request_id (64); anything else is replaced by an id of our own.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
MAX_USER_AGENT = 512
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")

CORS_ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_ALLOWED_HEADERS = (
    "Authorization, Content-Type, X-Request-Id, X-API-Key, X-CSRF-Token, Idempotency-Key"
)
CORS_EXPOSED_HEADERS = (
    "X-Request-Id, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, "
    "Idempotent-Replayed"
)
HARDENING_HEADERS = {"X-Content-Type-Options": "nosniff"}
DEFAULT_CACHE_CONTROL = "no-store"
# When a 503 tells the client to try again: a restarted process or server is back by then.
RETRY_AFTER_SECONDS = 5


# Made once: json.dumps with options builds an encoder for every response.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        _COMPACT_JSON.encode(body),
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


def unavailable_response(request_id: str) -> Response:
    response = error_response(503, "unavailable", "a service is not available", request_id)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def response_for_exception(exc: BaseException, request_id: str) -> Response:
    """The one place where an exception becomes an HTTP answer."""
    if isinstance(exc, DomainError):
        response = error_response(exc.status, exc.code, exc.message, request_id, exc.fields)
        retry_after = exc.retry_after or (
            RETRY_AFTER_SECONDS if isinstance(exc, Unavailable) else None
        )
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response
    if isinstance(exc, HTTPException) and exc.code is not None and exc.code < 500:
        response = error_response(
            exc.code, _http_error_code(exc), exc.description or "", request_id
        )
        # 405 names the methods the path takes.
        response.headers.extend((k, v) for k, v in exc.get_headers() if k == "Allow")
        return response
    if isinstance(exc, UnknownService | eventlet.Timeout):
        return unavailable_response(request_id)
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
        user_agent=_user_agent(request),
    )


def _user_agent(request: Request) -> str | None:
    # Stored on sessions and audit rows: no control characters (NUL cannot be stored).
    given = _CONTROL_CHARACTERS.sub("", request.headers.get("User-Agent") or "")
    return given[:MAX_USER_AGENT] or None


def refuse_impossible_path_values(values: dict[str, Any]) -> None:
    """A path value no row can have (an id that is no id, a NUL) names nothing: 404."""
    for name, value in values.items():
        if isinstance(value, str) and not input_gate.possible_path_value(name, value):
            raise NotFound("not found", {name: ["not found"]})


def refuse_bad_query(request: Request) -> None:
    errors = input_gate.query_errors(request.args.items(multi=True))
    if errors:
        raise ValidationFailed("invalid query string", errors)


class ApiWsgiApp:
    """Routing with JSON errors, request ids, CORS, the body limit, the input gate for path
    values and query strings, and hardening headers, before any worker."""

    def __init__(self, server: ApiWebServer) -> None:
        self.url_map = server.make_url_map()
        self.max_body_bytes = int(config.MAX_BODY_BYTES.get())
        self.origins = config.cors_origins()
        self.html_policy = content_security_policy(PAGES)
        self.trusted_proxies = trusted_proxies(config.TRUSTED_PROXIES.get())

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.trusted_proxies:
            # Werkzeug's remote_addr, and so the call context, is the client from here on.
            environ["REMOTE_ADDR"] = client_address(
                environ.get("REMOTE_ADDR"),
                environ.get("HTTP_X_FORWARDED_FOR", ""),
                self.trusted_proxies,
            )
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
        self._add_hardening_headers(response)
        self._add_cors_headers(request, response)
        return response(environ, start_response)

    def _add_hardening_headers(self, response: Response) -> None:
        response.headers.update(HARDENING_HEADERS)
        response.headers.setdefault("Cache-Control", DEFAULT_CACHE_CONTROL)
        if response.mimetype == "text/html":
            response.headers["Content-Security-Policy"] = self.html_policy

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
            refuse_impossible_path_values(values)
            refuse_bad_query(request)
        except (HTTPException, DomainError) as exc:
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
    def get_wsgi_app(self) -> Any:
        return metrics.counting_statuses(ApiWsgiApp(self))


class JsonRoute(HttpRequestHandler):
    """The entrypoint of a route whose method takes `(request, **path_values)` and returns
    `(status, JSON-able payload or None)`, or a werkzeug `Response` (pages, cookies)."""

    server = ApiWebServer()

    def __init__(self, method: str, url: str, **kwargs: Any) -> None:
        # Domain errors are answers, not faults: nameko logs them as warnings.
        kwargs.setdefault("expected_exceptions", DomainError)
        super().__init__(method, url, **kwargs)

    def handle_request(self, request: Request) -> Response:
        request.shallow = False
        request_id = request_id_of(request)
        try:
            kwargs = dict(request.path_values)
            args = (request,)
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
        status, payload = result
        if payload is None:
            return Response(status=status)
        return json_response(status, payload)
