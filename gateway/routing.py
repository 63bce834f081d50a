"""How a route is declared and served.

Each area of the API (`gateway/routes/<area>.py`) keeps a `RouteTable` and declares every
route next to its handler: method, path, who may call it, its body, query and answer
schemas, the statuses its services may refuse it with, and its tags. Nothing is registered
anywhere else: `gateway/routes/__init__.py` lists the areas, `gateway/service.py` serves
them (`serve`), and docs/authorization.md and /v1/openapi.json are generated from the same
declarations.

Every route authenticates first, then checks its body (JSON; or a webhook's url-encoded
form, handed on as the text sent) and query string, then runs its handler as
`handler(gateway, request, **path_values[, body=][, query=])`; the handler
returns a JSON-able payload (answered with the route's status), `(status, payload)`, or a
werkzeug `Response`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from marshmallow import Schema
from werkzeug.wrappers import Request, Response

from gateway.access import Access
from gateway.auth import RequestAuthenticator
from gateway.http import JsonRoute, add_response_headers
from gateway.idempotency import HEADER as IDEMPOTENCY_HEADER
from gateway.idempotency import IdempotencyStore
from gateway.request_input import FORM, read_form, read_json, read_query
from gateway.usage import UsageRecorder, record_api_call
from shared import context

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON = "application/json"
HTML = "text/html"
TEXT = "text/plain"
# Staff's routes are grouped under one tag, whichever area they belong to.
STAFF_TAGS = ("staff",)
_PATH_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")

Answer = Response | tuple[int, Any]
Handler = Callable[..., Any]


class Gateway(Protocol):
    """What a handler reaches on the gateway: its RPC proxies and dependencies."""

    identity: Any
    billing: Any
    metering: Any
    payments: Any
    support: Any
    notifications: Any
    auth: RequestAuthenticator
    usage: UsageRecorder
    idempotency: IdempotencyStore
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    summary: str
    access: Access
    handler: Handler
    request: type[Schema] | None = None
    query: type[Schema] | None = None
    response: type[Schema] | None = None
    status: int = 200
    tags: tuple[str, ...] = ()
    # What the handler's services may refuse it with, beyond what the route's access,
    # body, query and path already give (see gateway/openapi.py).
    errors: frozenset[int] = frozenset()
    media_type: str = JSON
    # Answers without asking any service (so never 503).
    local: bool = False
    # How the body comes: JSON, or FORM (a webhook's; the handler gets it as the text sent).
    body_media_type: str = JSON
    # Further successes, answered with the same shape (200 for an attempt already live
    # where 201 starts one).
    also: frozenset[int] = frozenset()
    # Refusals a page route answers as a page (a payer's browser shows them), not JSON.
    error_pages: frozenset[int] = frozenset()

    @property
    def name(self) -> str:
        return self.handler.__name__

    @property
    def template(self) -> str:
        """The path as OpenAPI writes it: `/v1/organizations/{org_id}`."""
        return _PATH_PARAM.sub(r"{\1}", self.path)

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)


class RouteTable:
    """The routes of one area, in the order they are declared."""

    def __init__(self, *tags: str) -> None:
        self.tags = tags
        self._routes: list[Route] = []

    def add(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        access: Access,
        request: type[Schema] | None = None,
        query: type[Schema] | None = None,
        response: type[Schema] | None = None,
        status: int = 200,
        errors: Sequence[int] = (),
        media_type: str = JSON,
        local: bool = False,
        tags: tuple[str, ...] | None = None,
        body_media_type: str = JSON,
        also: Sequence[int] = (),
        error_pages: Sequence[int] = (),
    ) -> Callable[[Handler], Handler]:
        def declare(handler: Handler) -> Handler:
            route = Route(
                method=method,
                path=path,
                summary=summary,
                access=access,
                handler=handler,
                request=request,
                query=query,
                response=response,
                status=status,
                tags=tags or self.tags,
                errors=frozenset(errors),
                media_type=media_type,
                local=local,
                body_media_type=body_media_type,
                also=frozenset(also),
                error_pages=frozenset(error_pages),
            )
            self._routes.append(route)
            return handler

        return declare

    def __iter__(self) -> Iterator[Route]:
        return iter(self._routes)


def serve(routes: Sequence[Route]) -> Callable[[type], type]:
    """A class decorator: the service gets one HTTP entrypoint per route, named like its
    handler, and `routes` (for /v1/openapi.json)."""

    def attach(service: type) -> type:
        for route in routes:
            if hasattr(service, route.name):
                raise TypeError(f"{service.__name__} already has {route.name!r}")
            setattr(service, route.name, _entrypoint(route))
        service.routes = tuple(routes)
        return service

    return attach


def _entrypoint(route: Route) -> Callable[..., Answer]:
    def handle(gateway: Gateway, request: Request, **path_values: str) -> Answer:
        ctx = gateway.auth.authenticate(request, route.access, path_values.get("org_id"), gateway)
        if ctx.actor_type == context.API_KEY:
            record_api_call(gateway.usage, ctx)
        inputs: dict[str, Any] = dict(path_values)
        if route.request is not None:
            read_body = read_form if route.body_media_type == FORM else read_json
            inputs["body"] = read_body(request, route.request())
        if route.query is not None:
            inputs["query"] = read_query(request, route.query())

        def answer() -> Answer:
            result = route.handler(gateway, request, **inputs)
            if isinstance(result, Response | tuple):
                return result
            return route.status, result

        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None or request.method not in WRITES or not ctx.actor_id:
            return answer()
        return _answer_once(gateway, request, key, answer)

    handle.__name__ = route.name
    handle.__doc__ = route.summary
    return JsonRoute.decorator(route.method, route.path)(handle)


def _answer_once(
    gateway: Gateway, request: Request, key: str, answer: Callable[[], Answer]
) -> Answer:
    """The first answer for this Idempotency-Key, kept and replayed to retries."""
    answers: list[Answer] = []

    def keepable() -> tuple[int, Any] | None:
        result = answer()
        answers.append(result)
        # Pages and cookie-setting answers are not replayed.
        return None if isinstance(result, Response) else result

    once = gateway.idempotency.run_once(key, request.method, request.path, keepable)
    if once is None:
        return answers[0]
    status, payload, replayed = once
    if replayed:
        add_response_headers(request, {"Idempotent-Replayed": "true"})
    return status, payload
