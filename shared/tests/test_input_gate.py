"""The one input gate: what no value from outside may be, each refusal naming its path."""

from __future__ import annotations

import json

import pytest

from shared import input_gate
from shared.errors import BadRequest, ValidationFailed
from shared.ids import cuid


def nested(depth: int, leaf: object = 1) -> object:
    """`depth` arrays, one inside the other, around `leaf`."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def test_plain_json_parses() -> None:
    body = {"name": "Acme ✓ 😀", "n": 2**53 - 1, "x": -1.5, "tags": ["a"], "none": None}
    assert input_gate.parse_json(json.dumps(body).encode()) == body
    assert input_gate.value_errors(body) == {}


def test_json_deeper_than_the_parser_goes_is_refused_naming_where_without_recursion() -> None:
    raw = b'{"email": "a@b.co", "password": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(ValidationFailed) as caught:
        input_gate.parse_json(raw)
    [(path, messages)] = caught.value.fields.items()
    assert path == "password" + ".0" * (input_gate.MAX_DEPTH - 1)
    assert messages == [input_gate.TOO_DEEP]


def test_unterminated_deep_json_is_refused_too() -> None:
    with pytest.raises(ValidationFailed) as caught:
        input_gate.parse_json(b"[" * 100_000)
    assert list(caught.value.fields) == [".".join(["0"] * input_gate.MAX_DEPTH)]


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps({"note": "[" * 5000, 'key with ] and \\" inside': "{" * 5000})
    input_gate.refuse_deep_nesting(text)


def test_nesting_is_refused_one_level_past_the_limit_naming_the_path() -> None:
    deepest_allowed = {"a": nested(input_gate.MAX_DEPTH - 1)}
    assert input_gate.value_errors(deepest_allowed) == {}
    too_deep = {"a": {"b": nested(input_gate.MAX_DEPTH - 1)}}
    path = "a.b" + ".0" * (input_gate.MAX_DEPTH - 2)
    assert input_gate.value_errors(too_deep) == {path: [input_gate.TOO_DEEP]}
    raw = json.dumps(too_deep)
    with pytest.raises(ValidationFailed) as caught:
        input_gate.refuse_deep_nesting(raw)
    assert caught.value.fields == {path: [input_gate.TOO_DEEP]}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"name": "a\\u0000b"}', "name"),
        (b'{"name": "\\ud800"}', "name"),
        (b'{"name": "\\udc00 trailing half"}', "name"),
        (b'{"events": [{"event_data": {"note": "x\\u0000"}}]}', "events.0.event_data.note"),
        (b'{"q": ["ok", "\\ud83d"]}', "q.1"),
    ],
)
def test_nul_and_lone_surrogates_are_refused_naming_the_path(raw: bytes, field: str) -> None:
    errors = input_gate.value_errors(input_gate.parse_json(raw))
    assert list(errors) == [field]


def test_a_surrogate_pair_is_a_character_not_a_lone_surrogate() -> None:
    assert input_gate.value_errors(input_gate.parse_json(b'{"name": "\\ud83d\\ude00"}')) == {}


def test_a_bad_object_key_is_named_with_its_bad_characters_escaped() -> None:
    errors = input_gate.value_errors({"data": {"a\x00b": 1, "\ud800": 2}})
    assert errors == {
        "data.a\\u0000b": ["key " + input_gate.HAS_NUL],
        "data.\\ud800": ["key " + input_gate.HAS_SURROGATE],
    }
    json.dumps(errors).encode()  # the answer naming them is clean UTF-8


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2**53, input_gate.OUT_OF_RANGE),
        (-(2**53), input_gate.OUT_OF_RANGE),
        (10**30, input_gate.OUT_OF_RANGE),
        (float("inf"), input_gate.NOT_FINITE),
        (float("nan"), input_gate.NOT_FINITE),
    ],
)
def test_numbers_beyond_what_json_clients_hold_are_refused(value: object, message: str) -> None:
    assert input_gate.value_errors({"offset": value}) == {"offset": [message]}


def test_booleans_and_numbers_within_range_pass() -> None:
    assert input_gate.value_errors({"a": True, "b": 2**53 - 1, "c": -(2**53) + 1, "d": 1e300}) == {}


def test_a_number_too_big_for_a_float_is_refused() -> None:
    errors = input_gate.value_errors(input_gate.parse_json(b'{"amount": 1e400}'))
    assert errors == {"amount": [input_gate.NOT_FINITE]}


@pytest.mark.parametrize("raw", [b"{", b'{"a": NaN}', b"[Infinity]", b"\xff\xfe", b""])
def test_what_is_not_json_is_a_bad_request(raw: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        input_gate.parse_json(raw)
    assert "_body" in caught.value.fields


def test_listed_batches_are_left_to_their_handler_item_by_item() -> None:
    body = {"events": [{"idempotency_key": "a\x00"}], "note": "\x00"}
    assert input_gate.value_errors(body, per_item=("events",)) == {"note": [input_gate.HAS_NUL]}
    assert list(input_gate.value_errors(body)) == ["events.0.idempotency_key", "note"]


def test_a_body_full_of_bad_strings_names_a_bounded_number_of_them() -> None:
    errors = input_gate.value_errors({"items": ["\x00"] * 10_000})
    assert len(errors) == input_gate.MAX_REPORTED


def test_refuse_bad_values_raises_the_one_error_shape() -> None:
    with pytest.raises(ValidationFailed) as caught:
        input_gate.refuse_bad_values({"name": "\x00"})
    assert caught.value.status == 422
    assert caught.value.fields == {"name": [input_gate.HAS_NUL]}


def test_query_parameters_with_bad_text_are_named() -> None:
    pairs = [("q", "a\x00"), ("limit", "5"), ("x\x00", "1"), ("q", "\ud800")]
    assert input_gate.query_errors(pairs) == {
        "q": [input_gate.HAS_NUL, input_gate.HAS_SURROGATE],
        "x\\u0000": ["name " + input_gate.HAS_NUL],
    }


@pytest.mark.parametrize(
    ("name", "value", "possible"),
    [
        ("org_id", cuid(), True),
        ("org_id", "c" + "0" * 32, False),  # longer than any id
        ("org_id", "a\x00", False),
        ("org_id", "abc\n", False),
        ("org_id", "../x", False),
        ("name", "pos.transaction", True),
        ("name", "pos.\x00", False),
        ("name", "\ud800", False),
        ("name", "x" * 201, False),
    ],
)
def test_path_values_that_can_name_nothing(name: str, value: str, possible: bool) -> None:
    assert input_gate.possible_path_value(name, value) is possible
