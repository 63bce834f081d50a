"""Waiting on a condition with a deadline: the one polling loop of the project (ops commands
and tests use it; nothing waits a fixed time and hopes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class DeadlineExceeded(AssertionError):
    pass


def wait_until(
    condition: Callable[[], T], timeout: float, description: str, interval: float = 0.1
) -> T:
    """Return the first truthy value of `condition()`; raise if `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise DeadlineExceeded(f"waited {timeout:g} s for {description}")
        time.sleep(interval)
