"""System settings over real HTTP: staff list every service's settings in one answer,
change one of support's and see the next ticket's due time follow it, get a 422 naming the
key for a bad value or an unknown key, find the change with its old and new value in the
audit trail; nobody else may read or change settings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared import config
from tests.integration.conftest import Person, Suite
from tests.integration.payments_helpers import refused
from tests.integration.support_helpers import answer, opened

pytestmark = pytest.mark.integration

SUPPORT = "/v1/admin/settings/support"
URGENT = "response_target.URGENT"
EXPIRY = "paynow.payment_expiry_minutes"


def by_key(listing: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["key"]: item for item in listing["settings"]}


@pytest.fixture
def support_settings_kept(suite: Suite, staff: Person) -> Iterator[None]:
    """Support's settings back to their defaults afterwards: other tests share the suite."""
    yield
    listing = answer(suite.http("GET", SUPPORT, headers=staff.auth))
    reset = {item["key"]: None for item in listing["settings"]}
    answer(suite.http("PATCH", SUPPORT, json=reset, headers=staff.auth))


def due_after(ticket: dict[str, Any]) -> timedelta:
    return datetime.fromisoformat(ticket["first_response_due_at"]) - datetime.fromisoformat(
        ticket["created_at"]
    )


def test_staff_list_every_service_s_settings_in_one_answer(suite: Suite, staff: Person) -> None:
    everything = answer(suite.http("GET", "/v1/admin/settings", headers=staff.auth))
    assert [each["service"] for each in everything["services"]] == list(config.SERVICES)
    support = by_key(everything["services"][config.SERVICES.index("support")])
    assert support[URGENT] | {"description": ""} == {
        "key": URGENT,
        "type": "string",
        "description": "",
        "value": "1h",
        "default": "1h",
        "environment": "SUPPORT_RESPONSE_TARGETS",
        "minimum": None,
        "maximum": None,
        "choices": None,
        "pattern": "^([1-9][0-9]{0,3})(h|bd)$",
        "secret": False,
        "updated_at": None,
    }
    payments = answer(suite.http("GET", "/v1/admin/settings/payments", headers=staff.auth))
    assert by_key(payments)[EXPIRY]["value"] == int(config.PAYNOW_PAYMENT_EXPIRY_MINUTES.default)
    identity = by_key(everything["services"][config.SERVICES.index("identity")])
    assert (
        identity["session.lifetime_days"]["value"],
        identity["invitation.lifetime_days"]["value"],
    ) == (7, 7)
    assert everything["services"][config.SERVICES.index("metering")]["settings"] == []


def test_a_changed_response_target_applies_to_the_next_ticket_and_is_audited(
    suite: Suite, staff: Person, support_settings_kept: None
) -> None:
    owner = suite.new_person()
    org_id = suite.new_org(owner)["id"]
    before = opened(suite, owner, org_id, priority="URGENT")
    assert due_after(before) == timedelta(hours=1)

    changed = suite.http("PATCH", SUPPORT, json={URGENT: "2bd"}, headers=staff.auth)
    setting = by_key(answer(changed))[URGENT]
    assert (setting["value"], setting["default"]) == ("2bd", "1h")
    assert setting["updated_at"] is not None

    after = opened(suite, owner, org_id, priority="URGENT")
    # Two business days (Monday to Friday, UTC): at least two days later, on a weekday.
    assert due_after(after) >= timedelta(days=2)
    assert datetime.fromisoformat(after["first_response_due_at"]).weekday() < 5

    trail = answer(
        suite.http(
            "GET",
            "/v1/admin/audit",
            # This test's change alone: others (unit tests on this database) change it too.
            params={
                "entity_type": "SystemSetting",
                "entity_id": URGENT,
                "request_id": changed.headers["X-Request-Id"],
            },
            headers=staff.auth,
        )
    )
    [row] = [item for item in trail["items"] if item["action"] == "system_setting.changed"]
    assert (row["service"], row["actor_id"]) == ("support", staff.user_id)
    assert row["metadata"] == {"key": URGENT, "old": "1h", "new": "2bd"}
    assert row["request_id"] == changed.headers["X-Request-Id"]


def test_a_bad_value_or_an_unknown_key_is_refused_naming_it(suite: Suite, staff: Person) -> None:
    def patch(path: str, body: Any) -> Any:
        return suite.http("PATCH", path, json=body, headers=staff.auth)

    assert refused(patch(SUPPORT, {URGENT: "2d"}), 422, URGENT)
    assert refused(patch(SUPPORT, {"daily_summary.hour_utc": 24}), 422, "daily_summary.hour_utc")
    assert refused(patch(SUPPORT, {"response_target.MEDIUM": "1h"}), 422, "response_target.MEDIUM")
    assert refused(patch("/v1/admin/settings/payments", {EXPIRY: "20"}), 422, EXPIRY)
    # A key of another service's is unknown here, and nothing else in the body is applied.
    assert refused(patch(SUPPORT, {URGENT: "3h", EXPIRY: 20}), 422, EXPIRY)
    listing = answer(suite.http("GET", SUPPORT, headers=staff.auth))
    assert by_key(listing)[URGENT]["value"] == "1h"
    assert patch("/v1/admin/settings/gateway", {}).status_code == 404


def test_only_staff_read_or_change_settings(suite: Suite) -> None:
    owner = suite.new_person()
    suite.new_org(owner)
    for method, path, body in (
        ("GET", "/v1/admin/settings", None),
        ("GET", SUPPORT, None),
        ("PATCH", SUPPORT, {URGENT: "5h"}),
    ):
        assert suite.http(method, path, json=body, headers=owner.auth).status_code == 403
        assert suite.http(method, path, json=body).status_code == 401
