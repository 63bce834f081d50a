"""Reading a request's body and query string: through the input gate, then the route's
schema. Each returns what was sent; services validate again."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema
from werkzeug.wrappers import Request

from shared import input_gate, paynow
from shared.errors import BadRequest, UnsupportedMediaType
from shared.schemas import load

FORM = "application/x-www-form-urlencoded"


def read_json(request: Request, schema: Schema) -> dict[str, Any]:
    """Parse a JSON object body and pass it through the input gate and `schema`; returns it
    as sent (services validate again)."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            "send the body as application/json", {"Content-Type": ["must be application/json"]}
        )
    data = input_gate.parse_json(request.get_data(cache=True) or b"")
    load(schema, data)
    return data


def read_form(request: Request, schema: Schema) -> str:
    """A url-encoded form body (a webhook's), its fields checked by `schema`; returned as
    the text sent, because its sender signed it as sent (the service verifies that)."""
    if request.mimetype != FORM:
        raise UnsupportedMediaType(
            f"send the body as {FORM}", {"Content-Type": [f"must be {FORM}"]}
        )
    try:
        text = (request.get_data(cache=True) or b"").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("malformed form", {"_body": [f"not UTF-8: {exc}"]}) from exc
    # A NUL, raw or percent-encoded, is named by the input gate in `load`.
    load(schema, paynow.fields(paynow.parse(text)))
    return text


def read_query(request: Request, schema: Schema) -> dict[str, str]:
    """The query string, checked by `schema`; returned as sent (services validate again)."""
    query = request.args.to_dict()
    load(schema, query)
    return query
