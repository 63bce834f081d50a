"""Whoever can publish on the broker cannot act as staff: a call context the suite's
processes did not sign is refused by every service and audited there, while the same
calls through the gateway work."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from shared import config, context
from shared.errors import Unauthorized
from shared.waiting import wait_until
from tests.integration.conftest import Person, Suite

pytestmark = pytest.mark.integration


def raw_rpc(suite: Suite, context_data: dict[str, Any]) -> ClusterRpcProxy:
    """RPC with context data exactly as given: what an outsider on the broker can send."""
    return ClusterRpcProxy({"AMQP_URI": suite.env.amqp_uri}, context_data=context_data, timeout=10)


def refusals(suite: Suite, service: str, entrypoint: str, marker: str) -> list[tuple]:
    return suite.sql(
        f"SELECT actor_type, actor_id, metadata FROM {service}.audit_logs "
        "WHERE action = 'call_context.refused' AND entity_id = :entrypoint "
        "AND metadata->'claims'->>'request_id' = :marker",
        entrypoint=entrypoint,
        marker=marker,
    )


def test_forged_staff_claims_sent_straight_to_billing_are_refused_and_audited(
    suite: Suite, staff: Person
) -> None:
    marker = f"forged-{uuid.uuid4().hex[:12]}"
    forged = {"request_id": marker, "actor_type": "user", "actor_id": "mallory", "is_staff": True}
    with raw_rpc(suite, forged) as cluster, pytest.raises(Unauthorized, match="unsigned"):
        cluster.billing.start_billing_run({"period": "1999-01"})

    [(actor_type, actor_id, metadata)] = refusals(
        suite, "billing", "billing.start_billing_run", marker
    )
    assert (actor_type, actor_id) == (context.ANONYMOUS, None)
    assert metadata["reason"] == "unsigned call context"
    assert metadata["claims"] == forged
    wait_until(
        lambda: any(
            " WARNING " in line and "refused billing.start_billing_run: unsigned" in line
            for line in suite.log_text("billing").splitlines()
            if marker in line
        ),
        10,
        "billing's warning about the refused call",
    )

    through_gateway = suite.run_billing(staff, "1999-01")
    assert through_gateway.status_code == 200, through_gateway.text


def test_a_signed_context_changed_on_the_way_is_refused(suite: Suite, staff: Person) -> None:
    """Signed for an ordinary person by a process holding the key, then made staff."""
    marker = f"tampered-{uuid.uuid4().hex[:12]}"
    person = context.CallContext(request_id=marker, actor_id="mallory", actor_type="user")
    tampered = {**person.to_context_data(), "is_staff": True}
    with raw_rpc(suite, tampered) as cluster, pytest.raises(Unauthorized, match="wrong signature"):
        cluster.identity.list_all_users({})

    [(_, _, metadata)] = refusals(suite, "identity", "identity.list_all_users", marker)
    assert metadata["reason"] == "wrong signature on the call context"
    assert metadata["claims"]["is_staff"] is True

    through_gateway = suite.http("GET", "/v1/admin/users", headers=staff.auth)
    assert through_gateway.status_code == 200, through_gateway.text


@pytest.mark.parametrize("service", config.SERVICES)
def test_every_service_answers_only_signed_calls(suite: Suite, service: str) -> None:
    with raw_rpc(suite, {}) as cluster, pytest.raises(Unauthorized):
        getattr(cluster, service).health()
    with suite.rpc() as cluster:
        assert getattr(cluster, service).health() == {"service": service, "status": "ok"}
