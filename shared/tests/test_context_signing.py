"""Signed call contexts: what one process of the suite signs, another believes; anything
changed, unsigned or signed with another key is refused."""

from __future__ import annotations

import secrets
from dataclasses import fields, replace
from typing import Any

import pytest

from shared import config
from shared.context import (
    SIGNATURE,
    SYSTEM,
    USER,
    CallContext,
    SigningKeyMissing,
    UntrustedContext,
)

EVERYTHING = CallContext(
    request_id="req-1",
    actor_id="user-1",
    actor_type=USER,
    is_staff=False,
    organization_id="org-1",
    role="MEMBER",
    scopes=("usage:read",),
    session_id="session-1",
    client_ip="10.0.0.7",
    user_agent="till/1.0",
)
# Another value for each field, of the right type.
CHANGED: dict[str, Any] = {
    "request_id": "req-2",
    "actor_id": "user-2",
    "actor_type": SYSTEM,
    "is_staff": True,
    "organization_id": "org-2",
    "role": "OWNER",
    "scopes": ["usage:read", "usage:write"],
    "session_id": "session-2",
    "client_ip": "10.0.0.8",
    "user_agent": "till/2.0",
}


def new_key() -> str:
    return secrets.token_urlsafe(32)


def use_keys(monkeypatch: pytest.MonkeyPatch, *keys: str) -> None:
    monkeypatch.setenv(config.CONTEXT_SIGNING_KEY.name, ",".join(keys))


def test_what_one_process_signs_another_believes() -> None:
    data = EVERYTHING.to_context_data()
    assert isinstance(data[SIGNATURE], str)
    assert CallContext.verified(data) == EVERYTHING


def test_every_field_is_covered() -> None:
    assert set(CHANGED) == {f.name for f in fields(CallContext)}


@pytest.mark.parametrize("name", sorted(CHANGED))
def test_changing_any_field_breaks_the_signature(name: str) -> None:
    data = EVERYTHING.to_context_data()
    data[name] = CHANGED[name]
    with pytest.raises(UntrustedContext, match="wrong signature"):
        CallContext.verified(data)


@pytest.mark.parametrize("name", ["is_staff", "organization_id", "role", "scopes"])
def test_adding_a_field_the_signer_left_out_breaks_the_signature(name: str) -> None:
    data = CallContext(actor_id="user-1", actor_type=USER).to_context_data()
    data[name] = CHANGED[name]
    with pytest.raises(UntrustedContext, match="wrong signature"):
        CallContext.verified(data)


def test_dropping_a_field_breaks_the_signature() -> None:
    data = EVERYTHING.to_context_data()
    del data["request_id"]
    with pytest.raises(UntrustedContext, match="wrong signature"):
        CallContext.verified(data)


def test_an_unsigned_context_is_refused_and_its_claims_kept_for_the_record() -> None:
    data = {"actor_type": USER, "actor_id": "mallory", "is_staff": True}
    with pytest.raises(UntrustedContext, match="unsigned") as refused:
        CallContext.verified(data)
    assert refused.value.claims == data
    assert "is_staff=True" in refused.value.describe()


@pytest.mark.parametrize("signature", [12345, b"abc", "", "é" * 64, "0" * 64])
def test_a_signature_of_any_other_shape_is_refused(signature: object) -> None:
    data = {**EVERYTHING.to_context_data(), SIGNATURE: signature}
    with pytest.raises(UntrustedContext):
        CallContext.verified(data)


def test_values_that_cannot_be_a_context_are_refused_not_crashed_on() -> None:
    data = {**EVERYTHING.to_context_data(), "scopes": 5}
    with pytest.raises(UntrustedContext, match="malformed"):
        CallContext.verified(data)


def test_claims_are_made_safe_to_log_and_store() -> None:
    data = {"actor_id": "a\x00b\nc" + "x" * 500, "scopes": ["s\x07"] * 50, "role": object()}
    with pytest.raises(UntrustedContext) as refused:
        CallContext.verified(data)
    claims = refused.value.claims
    assert claims["actor_id"].startswith("a?b?c") and len(claims["actor_id"]) == 200
    assert claims["scopes"] == ["s?"] * 20
    assert claims["role"].startswith("<object object")


def test_a_context_signed_with_another_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    use_keys(monkeypatch, new_key())
    data = EVERYTHING.to_context_data()
    use_keys(monkeypatch, new_key())
    with pytest.raises(UntrustedContext, match="wrong signature"):
        CallContext.verified(data)


def test_rotation_the_first_key_signs_and_every_key_verifies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old, new = new_key(), new_key()
    use_keys(monkeypatch, old)
    signed_with_old = EVERYTHING.to_context_data()

    use_keys(monkeypatch, new, old)
    assert CallContext.verified(signed_with_old) == EVERYTHING
    signed_with_new = EVERYTHING.to_context_data()

    use_keys(monkeypatch, new)
    assert CallContext.verified(signed_with_new) == EVERYTHING
    with pytest.raises(UntrustedContext):
        CallContext.verified(signed_with_old)


@pytest.mark.parametrize("value", ["", " , "])
def test_without_a_key_nothing_is_signed_nor_believed(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    data = EVERYTHING.to_context_data()
    monkeypatch.setenv(config.CONTEXT_SIGNING_KEY.name, value)
    with pytest.raises(SigningKeyMissing, match="CONTEXT_SIGNING_KEY is not set"):
        EVERYTHING.to_context_data()
    with pytest.raises(SigningKeyMissing):
        CallContext.verified(data)


def test_a_short_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    use_keys(monkeypatch, new_key(), "secret")
    with pytest.raises(SigningKeyMissing, match="shorter than 32 characters"):
        EVERYTHING.to_context_data()


def test_headers_are_the_signed_context_data_under_nameko_s_prefix() -> None:
    ctx = replace(EVERYTHING, is_staff=True)
    headers = ctx.to_headers()
    assert {f"nameko.{key}" for key in ctx.to_context_data()} == set(headers)
    unprefixed = {key.removeprefix("nameko."): value for key, value in headers.items()}
    assert CallContext.verified(unprefixed) == ctx
