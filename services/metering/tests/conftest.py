"""Metering's domain tests: who is calling. Every test starts and ends with the default call
context, whatever it binds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest

from shared import context
from shared.authorization import MemberRole

Acting = Callable[..., AbstractContextManager[context.CallContext]]


@contextmanager
def _acting_as(ctx: context.CallContext) -> Iterator[context.CallContext]:
    context.bind(ctx)
    try:
        yield ctx
    finally:
        context.bind(context.CallContext())


@pytest.fixture
def as_system() -> Acting:
    """`with as_system():` the suite itself (jobs, handlers, other services)."""
    return lambda: _acting_as(context.CallContext(actor_type=context.SYSTEM))


@pytest.fixture
def as_user() -> Acting:
    """`with as_user(org_id, MemberRole.MEMBER):` a signed-in person, as the gateway vets one;
    `is_staff=True` for CVT staff."""

    def acting(
        organization_id: str | None = None,
        role: MemberRole | None = None,
        *,
        is_staff: bool = False,
        actor_id: str = "user-under-test",
    ) -> AbstractContextManager[context.CallContext]:
        return _acting_as(
            context.CallContext(
                actor_type=context.USER,
                actor_id=actor_id,
                organization_id=organization_id,
                role=str(role) if role is not None else None,
                is_staff=is_staff,
            )
        )

    return acting
