from __future__ import annotations

import pytest
from marshmallow import fields

from shared.errors import ValidationFailed
from shared.schemas import StrictSchema, load


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
