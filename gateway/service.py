"""The gateway service: every route of `gateway/routes/`, served with the dependencies
their handlers reach (RPC proxies, authentication, the usage recorder, idempotency keys),
and the BROADCAST events every gateway instance reacts to at once."""

from __future__ import annotations

from nameko.rpc import RpcProxy

from gateway.auth import Authenticator
from gateway.idempotency import IdempotencyKeys
from gateway.routes import ROUTES
from gateway.routing import serve
from gateway.usage import UsageRecorder
from services.billing.events import BillingAccountReactivated, BillingAccountSuspended
from services.identity.events import ApiKeyRevoked
from services.metering.events import EventTypesChanged
from shared.dependencies import CallContextProvider, Telemetry
from shared.entrypoints import broadcast_handler


@serve(ROUTES)
class GatewayService:
    name = "gateway"
    call_context = CallContextProvider()
    telemetry = Telemetry()
    auth = Authenticator()
    usage = UsageRecorder()
    idempotency = IdempotencyKeys()

    identity = RpcProxy("identity")
    billing = RpcProxy("billing")
    metering = RpcProxy("metering")
    payments = RpcProxy("payments")
    support = RpcProxy("support")
    notifications = RpcProxy("notifications")

    # Every gateway instance gets these (BROADCAST); a missed one is covered by each
    # cache's own expiry.

    @broadcast_handler(ApiKeyRevoked)
    def forget_revoked_api_key(self, event: ApiKeyRevoked) -> None:
        self.auth.forget_api_key(event.api_key_id)

    @broadcast_handler(BillingAccountSuspended)
    def refuse_suspended_organization(self, event: BillingAccountSuspended) -> None:
        self.auth.note_suspension(event.organization_id, True, event.occurred_at)

    @broadcast_handler(BillingAccountReactivated)
    def admit_reactivated_organization(self, event: BillingAccountReactivated) -> None:
        self.auth.note_suspension(event.organization_id, False, event.occurred_at)

    @broadcast_handler(EventTypesChanged)
    def forget_event_types(self, event: EventTypesChanged) -> None:
        self.usage.forget_event_types()
