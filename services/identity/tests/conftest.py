"""Every identity test starts and ends with the default call context, whatever it binds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared import context


@pytest.fixture(autouse=True)
def default_call_context() -> Iterator[None]:
    context.bind(context.CallContext())
    yield
    context.bind(context.CallContext())
