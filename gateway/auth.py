"""Who is calling: sessions (Bearer token or cookie) and API keys, checked against each
route's `Access`. The outcome becomes the worker's call context, so every RPC the route
makes carries the caller, and services check authorization again themselves.

API keys are checked without an RPC per request: a short-lived cache in each gateway
process, emptied of a key at once when identity announces its revocation (a BROADCAST
event every instance receives). `lastUsedAt` is batched the same way, in reverse: the
cache collects use times and sends them to identity as one event every few seconds.
"""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

from nameko.extensions import DependencyProvider
from nameko.standalone.events import event_dispatcher
from werkzeug.wrappers import Request

from gateway.access import Access
from gateway.http import add_response_headers, call_context_of
from gateway.rate_limit import FLUSH_SECONDS, RateLimiter
from services.identity.events import ApiKeysUsed
from shared import context
from shared.authorization import check_access, organization_not_visible
from shared.clock import utcnow
from shared.dependencies import replace_context_data, spawn_periodic
from shared.errors import Forbidden, PaymentRequired, RateLimited, Unauthorized
from shared.rpc import call
from shared.tokens import csrf_token_for, secret_hash

log = logging.getLogger(__name__)

SESSION_COOKIE = "cvt_session"
CSRF_COOKIE = "cvt_csrf"
CSRF_HEADER = "X-CSRF-Token"
API_KEY_HEADER = "X-API-Key"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

API_KEY_CACHE_SECONDS = 30.0
UNKNOWN_KEY_CACHE_SECONDS = 5.0
USAGE_FLUSH_SECONDS = 10.0
SUSPENSIONS_RELOAD_SECONDS = 60.0


class ApiKeyCache:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[dict[str, Any] | None, float]] = {}
        self._hash_by_id: dict[str, str] = {}
        self.last_used: dict[str, str] = {}

    def lookup(self, key_hash: str, resolve: Any) -> dict[str, Any] | None:
        cached = self._entries.get(key_hash)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        info = resolve(key_hash)
        ttl = API_KEY_CACHE_SECONDS if info else UNKNOWN_KEY_CACHE_SECONDS
        self._entries[key_hash] = (info, time.monotonic() + ttl)
        if info:
            self._hash_by_id[info["id"]] = key_hash
        return info

    def forget(self, api_key_id: str) -> None:
        key_hash = self._hash_by_id.pop(api_key_id, None)
        if key_hash is not None:
            self._entries.pop(key_hash, None)

    def touch(self, api_key_id: str) -> None:
        self.last_used[api_key_id] = utcnow().isoformat()

    def take_usage(self) -> dict[str, str]:
        usage, self.last_used = self.last_used, {}
        return usage


class SuspendedOrganizations:
    """Organizations whose terminal traffic is refused for non-payment. Billing announces
    each suspension and reactivation to every gateway at once (BROADCAST); a reload every
    minute covers a gateway that missed one while it was down.

    Events can arrive out of order (a redelivered suspension after its reactivation), so
    each organization's latest announcement wins by `occurred_at`, not by arrival."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._announced_at: dict[str, datetime] = {}
        self._loaded_at = float("-inf")

    def contains(self, organization_id: str, load: Any) -> bool:
        if time.monotonic() - self._loaded_at > SUSPENSIONS_RELOAD_SECONDS:
            self._ids = set(load())
            # The list is billing's state now: older announcements no longer matter.
            self._announced_at = {}
            self._loaded_at = time.monotonic()
        return organization_id in self._ids

    def note(self, organization_id: str, suspended: bool, occurred_at: datetime) -> None:
        latest = self._announced_at.get(organization_id)
        if latest is not None and occurred_at < latest:
            return
        self._announced_at[organization_id] = occurred_at
        if suspended:
            self._ids.add(organization_id)
        else:
            self._ids.discard(organization_id)


class Authenticator(DependencyProvider):
    """Owns this gateway process's API-key cache, suspension list and usage flusher."""

    def setup(self) -> None:
        self.cache = ApiKeyCache()
        self.suspended = SuspendedOrganizations()
        self.limiter = RateLimiter()
        self._dispatch = event_dispatcher(self.container.config)
        self._flushers: list[Any] = []

    def start(self) -> None:
        self._flushers = [
            spawn_periodic(
                self.container, USAGE_FLUSH_SECONDS, self.flush_usage, "sending API-key use times"
            ),
            spawn_periodic(
                self.container, FLUSH_SECONDS, self.limiter.flush, "adding up rate limits"
            ),
        ]

    def stop(self) -> None:
        for flusher in self._flushers:
            flusher.kill()
        self.flush_usage()
        self.limiter.flush()

    def flush_usage(self) -> None:
        usage = self.cache.take_usage()
        if not usage:
            return
        try:
            used = ApiKeysUsed(last_used=usage)
            self._dispatch(used.source, used.event_type, used.to_payload())
        except Exception:
            log.warning("could not send API-key use times; keeping them", exc_info=True)
            for key_id, stamp in usage.items():
                self.cache.last_used.setdefault(key_id, stamp)

    def get_dependency(self, worker_ctx: Any) -> RequestAuthenticator:
        return RequestAuthenticator(self, worker_ctx)


class RequestAuthenticator:
    def __init__(self, provider: Authenticator, worker_ctx: Any) -> None:
        self.cache = provider.cache
        self.limiter = provider.limiter
        self.suspended = provider.suspended
        self.worker_ctx = worker_ctx

    def forget_api_key(self, api_key_id: str) -> None:
        self.cache.forget(api_key_id)

    def note_suspension(self, organization_id: str, suspended: bool, occurred_at: datetime) -> None:
        self.suspended.note(organization_id, suspended, occurred_at)

    def authenticate(
        self, request: Request, access: Access, organization_id: str | None, proxies: Any
    ) -> context.CallContext:
        """`proxies` has the `identity` and `billing` RPC proxies of the gateway."""
        base = call_context_of(request)
        if access.kind == "public":
            return self._act_as(base)
        api_key = request.headers.get(API_KEY_HEADER)
        if api_key:
            ctx, rate_limit = self._by_api_key(
                base, api_key, access, organization_id, proxies.identity
            )
            if self.suspended.contains(
                ctx.organization_id or "", lambda: call(proxies.billing.suspended_organizations)
            ):
                raise PaymentRequired(
                    "this organization is suspended for non-payment; pay the overdue invoices"
                )
            self._count_against_rate_limit(request, ctx, rate_limit)
            return self._act_as(ctx)
        token, from_cookie = self._session_token(request)
        if token is None:
            raise Unauthorized("sign in, or send an API key")
        if from_cookie and request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent, csrf_token_for(token)):
                raise Forbidden("missing or wrong CSRF token", {CSRF_HEADER: ["required"]})
        return self._act_as(
            self._by_session(base, token, access, organization_id, proxies.identity)
        )

    @staticmethod
    def _session_token(request: Request) -> tuple[str | None, bool]:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip() or None, False
        cookie = request.cookies.get(SESSION_COOKIE)
        return (cookie, True) if cookie else (None, False)

    def _by_session(
        self,
        base: context.CallContext,
        token: str,
        access: Access,
        organization_id: str | None,
        identity: Any,
    ) -> context.CallContext:
        if access.kind == "terminal":
            raise Forbidden("terminal endpoints take an API key")
        principal = call(
            identity.authenticate_session,
            token,
            organization_id if access.kind == "organization" else None,
        )
        ctx = context.CallContext(
            request_id=base.request_id,
            actor_id=principal["user_id"],
            actor_type=context.USER,
            is_staff=principal["is_staff"],
            session_id=principal["session_id"],
            client_ip=base.client_ip,
            user_agent=base.user_agent,
        )
        if access.kind == "staff" and not ctx.is_staff:
            raise Forbidden("CVT staff only")
        if access.kind == "organization":
            assert access.permission is not None and organization_id is not None
            role = principal["role"]
            # A member (role known) acts in the organization; anyone else is checked as an
            # outsider, which only staff survive.
            member_of = organization_id if role is not None else None
            check_access(replace(ctx, organization_id=member_of, role=role), organization_id,
                         access.permission)  # fmt: skip
            ctx = replace(ctx, organization_id=organization_id, role=role)
        return ctx

    def _by_api_key(
        self,
        base: context.CallContext,
        key: str,
        access: Access,
        organization_id: str | None,
        identity: Any,
    ) -> tuple[context.CallContext, int]:
        info = self.cache.lookup(
            secret_hash(key), lambda key_hash: call(identity.resolve_api_key, key_hash)
        )
        if info is None or not info["is_active"]:
            raise Unauthorized("unknown or revoked API key")
        if info["expires_at"] and datetime.fromisoformat(info["expires_at"]) <= utcnow():
            raise Unauthorized("expired API key")
        scopes = set(info["scopes"])
        if access.kind == "terminal":
            wanted = {access.scope}
        elif access.kind == "organization" and access.permission and access.permission.scopes:
            if organization_id != info["organization_id"]:
                raise organization_not_visible()
            wanted = set(access.permission.scopes)
        else:
            raise Forbidden("this endpoint is for people, not API keys")
        if not wanted & scopes:
            raise Forbidden(f"this API key lacks the scope {' or '.join(sorted(wanted))}")
        self.cache.touch(info["id"])
        ctx = context.CallContext(
            request_id=base.request_id,
            actor_id=info["id"],
            actor_type=context.API_KEY,
            organization_id=info["organization_id"],
            scopes=tuple(sorted(scopes)),
            client_ip=base.client_ip,
            user_agent=base.user_agent,
        )
        return ctx, info["rate_limit"]

    def _count_against_rate_limit(
        self, request: Request, ctx: context.CallContext, rate_limit: int
    ) -> None:
        state = self.limiter.hit(ctx.actor_id or "", rate_limit)
        if state is None:
            return
        add_response_headers(request, state.headers())
        if not state.allowed:
            raise RateLimited(
                f"over this key's limit of {state.limit} requests an hour",
                retry_after=state.retry_after,
            )

    def _act_as(self, ctx: context.CallContext) -> context.CallContext:
        """From here on, logs, audit rows and every RPC of this request carry `ctx`."""
        replace_context_data(self.worker_ctx, ctx)
        context.bind(ctx)
        return ctx
