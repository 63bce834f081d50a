"""A frontend team's view of the API: a typed Python client generated from the live
/v1/openapi.json by openapi-python-client drives sign-up → organization → API key → usage
with its own functions and models only. Any warning of the generator (a skipped operation,
a schema it cannot type) fails the test, with the generator's message."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import httpx
import pytest

from shared.clock import utcnow
from shared.waiting import wait_until
from tests.integration.conftest import PASSWORD, Suite

pytestmark = pytest.mark.integration

PACKAGE = "cvt_erp_client"
TIMEOUT_SECONDS = 15


@dataclass(frozen=True)
class Generated:
    """The generated package, imported: its models and its operations, one module per
    operationId under its tag."""

    models: ModuleType
    base_url: str

    def operation(self, tag: str, operation_id: str) -> ModuleType:
        return importlib.import_module(f"{PACKAGE}.api.{tag}.{operation_id}")

    def client(self, **kwargs: Any) -> Any:
        package = importlib.import_module(PACKAGE)
        kind = package.AuthenticatedClient if "token" in kwargs else package.Client
        return kind(base_url=self.base_url, timeout=httpx.Timeout(TIMEOUT_SECONDS), **kwargs)


def generate(spec_url: str, directory: Path) -> None:
    """The generator's own CLI, as a frontend team would run it. Its post hooks only
    format the code (with ruff from PATH), so none run: the code imports the same."""
    config = directory / "config.json"
    config.write_text(json.dumps({"post_hooks": []}))
    command = [
        sys.executable, "-m", "openapi_python_client", "generate",
        "--url", spec_url, "--meta", "none", "--config", str(config),
        "--output-path", str(directory / PACKAGE), "--fail-on-warning",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"the generator refused the spec:\n{done.stdout}{done.stderr}"


@pytest.fixture(scope="module")
def generated(suite: Suite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    directory = tmp_path_factory.mktemp("generated-client")
    generate(suite.url + "/v1/openapi.json", directory)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(directory))
        try:
            yield Generated(importlib.import_module(f"{PACKAGE}.models"), suite.url)
        finally:
            for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
                del sys.modules[name]


def answered(response: Any, status: HTTPStatus, model: type) -> Any:
    """The parsed answer, once its status and its generated type are the documented ones."""
    assert response.status_code == status, response.content
    assert isinstance(response.parsed, model), response.parsed
    return response.parsed


def test_generated_client_drives_sign_up_organization_api_key_and_usage(
    suite: Suite, generated: Generated
) -> None:
    models, operation = generated.models, generated.operation
    anonymous = generated.client()
    address = f"gen-{uuid.uuid4().hex[:10]}@example.co.zw"

    signed_up = operation("authentication", "sign_up").sync_detailed(
        client=anonymous, body=models.SignUp(email=address, password=PASSWORD)
    )
    answered(signed_up, HTTPStatus.ACCEPTED, models.Status)

    token = models.Token(token=suite.link_token(address, "Confirm"))
    verified = operation("authentication", "verify_email").sync_detailed(
        client=anonymous, body=token
    )
    user = answered(verified, HTTPStatus.OK, models.User)
    assert user.email == address
    assert user.email_verified <= utcnow()  # the moment, as an aware datetime

    signed_in = operation("authentication", "sign_in").sync_detailed(
        client=anonymous, body=models.SignIn(email=address, password=PASSWORD)
    )
    session = answered(signed_in, HTTPStatus.OK, models.SignedIn)
    assert session.user.email == address
    assert session.expires_at > utcnow()
    person = generated.client(token=session.token)

    created_org = operation("organizations", "create_organization").sync_detailed(
        client=person, body=models.OrganizationCreate(name="Generated Client Ltd", email=address)
    )
    org = answered(created_org, HTTPStatus.CREATED, models.Organization)
    assert org.name == "Generated Client Ltd"

    scopes = [models.ApiKeyCreateScopesItem.USAGEWRITE, models.ApiKeyCreateScopesItem.USAGEREAD]
    created_key = operation("api_keys", "create_api_key").sync_detailed(
        org.id, client=person, body=models.ApiKeyCreate(name="till", scopes=scopes)
    )
    api_key = answered(created_key, HTTPStatus.CREATED, models.CreatedApiKey)
    assert set(api_key.scopes) == {"usage:write", "usage:read"}
    assert api_key.key.startswith(api_key.key_prefix)
    terminal = generated.client(token=api_key.key, prefix="", auth_header_name="X-API-Key")

    report_usage = operation("terminals", "report_usage")
    one = models.UsageEventIn(event_type="pos.transaction", idempotency_key="g1", quantity=2)
    batch = models.UsageEvents(
        events=[
            models.UsageEventIn(event_type="pos.transaction", idempotency_key="g2", quantity=3),
            models.UsageEventIn(event_type="pos.transaction", idempotency_key="g3", quantity=4),
        ]
    )
    for body, count in ((one, 1), (batch, 2)):
        reported = report_usage.sync_detailed(client=terminal, body=body)
        accepted = answered(reported, HTTPStatus.ACCEPTED, models.UsageAccepted)
        assert (accepted.accepted, accepted.rejected) == (count, 0)
        assert [r.status for r in accepted.results] == [models.EventResultStatus.ACCEPTED] * count

    # Metering stores what the gateway accepted asynchronously; days, as the spec allows.
    today = utcnow().date()
    usage_report = operation("usage", "usage_report")

    def counted() -> Any:
        reported = usage_report.sync_detailed(
            org.id,
            client=terminal,
            from_=today - timedelta(days=1),
            to=today + timedelta(days=1),
            group_by=models.UsageReportGroupBy.EVENT_TYPE,
        )
        report = answered(reported, HTTPStatus.OK, models.UsageReport)
        assert (report.organization_id, report.group_by) == (
            org.id,
            models.UsageReportGroupBy.EVENT_TYPE,
        )
        rows = [row for row in report.rows if row.event_type == "pos.transaction"]
        return rows if rows and rows[0].events == 3 else None

    [row] = wait_until(counted, 30, "the three usage events in the usage report")
    assert (row.quantity, row.events) == (9, 3)


# The fields the flow above reads, by the generated model that carries them: a typed client
# can read them only if the spec says the answers always have them.
READ_FIELDS = {
    "SignedIn": {"token", "expires_at", "user"},
    "User": {"email", "email_verified"},
    "Organization": {"id", "name"},
    "CreatedApiKey": {"key", "key_prefix", "scopes"},
    "UsageAccepted": {"accepted", "rejected", "results"},
    "EventResult": {"status"},
    "UsageReport": {"organization_id", "group_by", "rows"},
    # Its grouping columns come only with their own group_by.
    "UsageRow": {"quantity", "events"},
}


def test_generated_models_type_the_fields_read_as_always_present(generated: Generated) -> None:
    optional = {
        model: sorted(
            f.name
            for f in attrs.fields(getattr(generated.models, model))
            if f.name in names and f.default is not attrs.NOTHING
        )
        for model, names in READ_FIELDS.items()
    }
    assert {model: names for model, names in optional.items() if names} == {}
