"""The one input gate: what no value from outside may be, whatever field it is sent in.

Every JSON body, query string and path value passes here before any schema sees it: at
the gateway, and again in `shared.schemas.load` inside each service (an RPC caller is not
always the gateway). Refused, each naming the path of the value at fault
(`events.3.event_data.note`):

- JSON nested deeper than `MAX_DEPTH` levels (the parser's own limit, about 1,000 levels,
  is a RecursionError caught here and answered the same way);
- NUL characters and lone UTF-16 surrogates, in any string or object key: PostgreSQL text
  and jsonb cannot hold them, and psycopg2 cannot even send them;
- integers beyond ±(2**53 - 1), the range every JSON client holds exactly (I-JSON,
  RFC 7493); and NaN or infinite numbers, which are not JSON at all.

The bounds of a field itself (its length, its range, its dates) stay in its schema.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from shared.db import CUID_LENGTH
from shared.errors import BadRequest, ValidationFailed

MAX_DEPTH = 32
MAX_INTEGER = 2**53 - 1
# A body full of bad strings names this many of them, not all.
MAX_REPORTED = 50
MAX_PATH_VALUE = 200

FieldErrors = dict[str, list[str]]

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
# JSON's tokens that matter for nesting: whole strings (so brackets inside them do not
# count), brackets, and the separators that move along an object or an array.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]', re.DOTALL)
_OPENERS, _CLOSERS = frozenset("[{"), frozenset("]}")
# Ids are CUIDs (shared.ids): anything longer, or of other characters, names no row.
_POSSIBLE_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{CUID_LENGTH}}}")

TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
HAS_NUL = "must not contain NUL characters"
HAS_SURROGATE = "must not contain unpaired surrogates (not valid Unicode)"
OUT_OF_RANGE = f"must be between -{MAX_INTEGER} and {MAX_INTEGER}"
NOT_FINITE = "must be a finite number"


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored, or None."""
    found = _BAD_TEXT.search(text)
    if found is None:
        return None
    return HAS_NUL if found.group() == "\x00" else HAS_SURROGATE


def parse_json(raw: bytes) -> Any:
    """A request body as JSON: UTF-8, plain JSON numbers only (no NaN or Infinity).
    Malformed JSON is a `BadRequest`; JSON nested deeper than the parser goes (about 1,000
    levels: a RecursionError) a `ValidationFailed` naming where. Shallower values nested
    deeper than `MAX_DEPTH` are named by `value_errors`."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("malformed JSON", {"_body": [f"not UTF-8: {exc}"]}) from exc
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as exc:
        refuse_deep_nesting(text)
        raise ValidationFailed("invalid input", {"_body": [TOO_DEEP]}) from exc
    except ValueError as exc:
        raise BadRequest("malformed JSON", {"_body": [f"not valid JSON: {exc}"]}) from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def refuse_deep_nesting(text: str) -> None:
    """Raise `ValidationFailed` naming the first value nested deeper than `MAX_DEPTH`."""
    # Each open container: [is_object, key or index, expecting a key].
    stack: list[list[Any]] = []
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        top = stack[-1] if stack else None
        if token in _OPENERS:
            if len(stack) == MAX_DEPTH:
                raise ValidationFailed("invalid input", {_scan_path(stack): [TOO_DEEP]})
            stack.append([token == "{", None if token == "{" else 0, token == "{"])
        elif token in _CLOSERS:
            if stack:
                stack.pop()
        elif top is None:
            continue
        elif token == ",":
            if top[0]:
                top[2] = True
            else:
                top[1] += 1
        elif token == ":":
            top[2] = False
        elif top[0] and top[2]:
            top[1] = token


def _scan_path(stack: list[list[Any]]) -> str:
    segments = []
    for is_object, position, _ in stack:
        if is_object:
            segments.append(_key_text(position) if position is not None else "?")
        else:
            segments.append(str(position))
    return join_path(segments) or "_body"


def _key_text(token: str) -> str:
    try:
        return str(json.loads(token))
    except ValueError:
        return token[1:-1]


def join_path(segments: Iterable[Any]) -> str:
    return ".".join(_printable(str(segment)) for segment in segments)


def _printable(segment: str) -> str:
    # A key at fault is named with its bad characters escaped, so the answer is clean.
    return json.dumps(segment)[1:-1] if text_problem(segment) else segment


def value_errors(value: Any, per_item: Iterable[str] = ()) -> FieldErrors:
    """What is wrong with a decoded JSON value, by path; {} if nothing. The items of the
    top-level lists named in `per_item` are skipped: their handler checks each on its own
    (a usage batch accepts its good events and refuses the bad ones)."""
    errors: FieldErrors = {}
    skipped = frozenset(per_item)
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_key(key, [], errors)
            if key not in skipped or not isinstance(item, list):
                _walk(item, [key], errors, depth=2)
    else:
        _walk(value, [], errors, depth=1)
    return errors


def _walk(value: Any, path: list[Any], errors: FieldErrors, depth: int) -> None:
    if len(errors) >= MAX_REPORTED:
        return
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            _add(errors, path, problem)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if abs(value) > MAX_INTEGER:
            _add(errors, path, OUT_OF_RANGE)
    elif isinstance(value, float):
        if not math.isfinite(value):
            _add(errors, path, NOT_FINITE)
    elif isinstance(value, Mapping | list | tuple):
        if depth > MAX_DEPTH:
            _add(errors, path, TOO_DEEP)
            return
        if isinstance(value, Mapping):
            for key, item in value.items():
                _check_key(key, path, errors)
                _walk(item, [*path, key], errors, depth + 1)
        else:
            for index, item in enumerate(value):
                _walk(item, [*path, index], errors, depth + 1)


def _check_key(key: Any, path: list[Any], errors: FieldErrors) -> None:
    problem = text_problem(key) if isinstance(key, str) else None
    if problem:
        _add(errors, [*path, key], f"key {problem}")


def _add(errors: FieldErrors, path: list[Any], message: str) -> None:
    errors.setdefault(join_path(path) or "_body", []).append(message)


def refuse_bad_values(value: Any, per_item: Iterable[str] = ()) -> None:
    """Raise `ValidationFailed` naming every value at fault (see `value_errors`)."""
    errors = value_errors(value, per_item)
    if errors:
        raise ValidationFailed("invalid input", errors)


def query_errors(pairs: Iterable[tuple[str, str]]) -> FieldErrors:
    """What is wrong with query-string parameters (name, value), by parameter name."""
    errors: FieldErrors = {}
    for name, value in pairs:
        problem = text_problem(name)
        if problem:
            _add(errors, [name], f"name {problem}")
        problem = text_problem(value)
        if problem:
            _add(errors, [name], problem)
    return errors


def possible_path_value(name: str, value: str) -> bool:
    """Whether a path segment can name anything: ids (`*_id`) look like ids, nothing holds
    characters the database refuses, nothing is absurdly long."""
    if name.endswith("_id"):
        return _POSSIBLE_ID.fullmatch(value) is not None
    return len(value) <= MAX_PATH_VALUE and text_problem(value) is None
