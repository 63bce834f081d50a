"""Domain errors cross RPC as themselves, with their message and per-field details."""

from __future__ import annotations

import json

import pytest
from nameko.exceptions import RemoteError, deserialize, serialize

from shared import errors


@pytest.mark.parametrize(
    "error_cls",
    [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type)
        and issubclass(cls, errors.DomainError)
        and cls is not errors.DomainError
    ],
)
def test_every_domain_error_survives_the_wire(error_cls: type[errors.DomainError]) -> None:
    original = error_cls("nope", {"slug": ["already taken"]})
    wire = json.loads(json.dumps(serialize(original)))
    again = deserialize(wire)
    assert type(again) is error_cls
    assert again.message == "nope"
    assert again.fields == {"slug": ["already taken"]}
    assert again.to_body() == {
        "error": {"code": error_cls.code, "message": "nope", "fields": {"slug": ["already taken"]}}
    }


def test_statuses_are_distinct_and_http() -> None:
    classes = [
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.DomainError) and c is not errors.DomainError
    ]
    statuses = [c.status for c in classes]
    assert len(statuses) == len(set(statuses))
    assert all(400 <= s < 600 for s in statuses)


def test_other_exceptions_stay_opaque() -> None:
    wire = serialize(KeyError("secret internals"))
    assert isinstance(deserialize(wire), RemoteError)


def test_retry_after_is_a_number_or_nothing_whatever_crossed_rpc() -> None:
    assert errors.RateLimited("slow down", retry_after=30).retry_after == 30
    assert errors.Unauthorized("who are you").retry_after is None
    # nameko sends exception arguments as text
    assert errors.RateLimited("slow down", {}, "30").retry_after == 30  # type: ignore[arg-type]
    assert errors.Unauthorized("who are you", {}, "None").retry_after is None  # type: ignore[arg-type]
