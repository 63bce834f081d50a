"""`@route(...)`: declares a gateway route, who may call it, and its shapes. Every route
authenticates first, then parses its body, then runs; and is listed in /v1/openapi.json
and docs/authorization.md."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from marshmallow import Schema
from werkzeug.wrappers import Request, Response

from gateway.auth import Access
from gateway.http import ROUTES, JsonRoute, RouteSpec, add_response_headers, read_json
from gateway.idempotency import HEADER as IDEMPOTENCY_HEADER
from gateway.usage import record_api_call
from shared import context

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _answer_once(
    service: Any, spec: RouteSpec, request: Request, key: str, handle: Callable[[], Any]
) -> Any:
    answers: list[Any] = []

    def answer() -> tuple[int, Any] | None:
        result = handle()
        answers.append(result)
        if isinstance(result, Response):
            return None  # pages and cookie-setting answers are not replayed
        return result if isinstance(result, tuple) else (spec.status, result)

    once = service.idempotency.run_once(key, request.method, request.path, answer)
    if once is None:
        return answers[0]
    status, payload, replayed = once
    if replayed:
        add_response_headers(request, {"Idempotent-Replayed": "true"})
    return status, payload


def route(
    method: str,
    path: str,
    *,
    summary: str,
    access: Access,
    request: type[Schema] | None = None,
    response: type[Schema] | None = None,
    many: bool = False,
    status: int = 200,
    tags: tuple[str, ...] = (),
) -> Callable[[Callable], Callable]:
    spec = RouteSpec(method, path, summary, access, request, response, many, status, tags)
    ROUTES.append(spec)

    def decorate(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def authenticated(self: Any, request: Request, **path_values: Any) -> Any:
            ctx = self.auth.authenticate(request, access, path_values.get("org_id"), self)
            if ctx.actor_type == context.API_KEY:
                record_api_call(self.usage, ctx)
            if spec.request is not None:
                path_values["body"] = read_json(request, spec.request())
            key = request.headers.get(IDEMPOTENCY_HEADER)
            if key is None or request.method not in WRITES or not ctx.actor_id:
                return handler(self, request, **path_values)
            return _answer_once(
                self, spec, request, key, lambda: handler(self, request, **path_values)
            )

        return JsonRoute.decorator(method, path, spec=spec)(authenticated)

    return decorate
