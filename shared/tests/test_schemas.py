from __future__ import annotations

import pytest
from marshmallow import fields

from shared.errors import ValidationFailed
from shared.schemas import (
    MAX_OFFSET,
    BoundedDateTime,
    Month,
    PageQuerySchema,
    StrictSchema,
    load,
)


class ThingSchema(StrictSchema):
    name = fields.String(required=True)
    count = fields.Integer()


def test_valid_input_loads() -> None:
    assert load(ThingSchema(), {"name": "x", "count": 2}) == {"name": "x", "count": 2}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"count": 1}, "name"),
        ({"name": "x", "extra": 1}, "extra"),
        ({"name": "x", "count": "many"}, "count"),
        ([1], "_schema"),
    ],
)
def test_invalid_input_names_the_field(data: object, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(ThingSchema(), data)
    assert field in caught.value.fields


class WhenSchema(StrictSchema):
    at = BoundedDateTime()
    plain = fields.AwareDateTime(data_key="from")
    month = Month()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "a\x00b"}, "name"),
        ({"name": "\ud800"}, "name"),
        ({"name": "x", "count": 2**53}, "count"),
    ],
)
def test_load_passes_the_input_gate_first(data: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(ThingSchema(), data)
    assert list(caught.value.fields) == [field]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"at": "0300-01-01T00:00:00+00:00"}, "at"),
        ({"at": "1969-12-31T23:59:59+00:00"}, "at"),
        ({"at": "3000-01-01T00:00:00+00:00"}, "at"),
        ({"at": "9999-12-31T23:59:59-05:00"}, "at"),
        ({"from": "0300-01-01T00:00:00+00:00"}, "from"),  # a plain field, bounded by load()
        ({"month": "0000-01"}, "month"),
        ({"month": "9999-12"}, "month"),
        ({"month": "2026-13"}, "month"),
        ({"month": "٢٠٢٦-11"}, "month"),  # digits, but not ASCII ones
        ({"month": "2026-11\n"}, "month"),
    ],
)
def test_moments_and_months_out_of_time_name_the_field(data: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(WhenSchema(), data)
    assert list(caught.value.fields) == [field]


def test_moments_and_months_within_time_load() -> None:
    loaded = load(
        WhenSchema(),
        {"at": "1970-01-01T00:00:00Z", "from": "2999-12-31T23:59:59Z", "month": "2026-11"},
    )
    assert (loaded["at"].year, loaded["plain"].year, loaded["month"]) == (1970, 2999, "2026-11")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"offset": str(10**30)}, "offset"),
        ({"offset": str(MAX_OFFSET + 1)}, "offset"),
        ({"offset": "-1"}, "offset"),
        ({"limit": "201"}, "limit"),
        ({"limit": "9" * 5000}, "limit"),
    ],
)
def test_page_queries_are_bounded(query: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(PageQuerySchema(), query)
    assert list(caught.value.fields) == [field]
    assert load(PageQuerySchema(), {"offset": str(MAX_OFFSET)})["offset"] == MAX_OFFSET
