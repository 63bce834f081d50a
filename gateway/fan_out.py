"""Asking every service at once, for answers that would mislead with one missing (the
audit trail, the settings)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import TypeVar

import eventlet
from nameko.exceptions import UnknownService

from shared.errors import Unavailable

T = TypeVar("T")


def ask_every_service(questions: Mapping[str, Callable[[], T]], incomplete: str) -> dict[str, T]:
    """Each service's answer to its question, asked at once, in `questions`' order. A
    service that does not answer fails the whole answer: 503 with `incomplete` (what the
    answer would be without it) naming it. Refusals (403, 422) are raised as they are."""
    answered: dict[str, T] = {}

    def ask(name: str) -> None:
        # A silent service is named below; its absence is the answer.
        with contextlib.suppress(Unavailable, UnknownService):
            answered[name] = questions[name]()

    # imap, not spawn: a refusal raised by one ask reaches the caller.
    list(eventlet.GreenPool(len(questions)).imap(ask, questions))
    silent = sorted(set(questions) - set(answered))
    if silent:
        raise Unavailable(
            f"{incomplete} without {', '.join(silent)}; try again",
            {name: ["did not answer"] for name in silent},
        )
    return {name: answered[name] for name in questions}
