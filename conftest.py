"""Fixtures every test folder can use. Monkey-patching comes first: nameko's pytest plugin
no longer does it (2.14), and containers and psycopg2 need it."""

import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import secrets  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import AbstractContextManager, contextmanager  # noqa: E402

import pytest  # noqa: E402

from ops import database  # noqa: E402
from shared import config, context  # noqa: E402
from shared.authorization import MemberRole  # noqa: E402
from shared.unit_of_work import UnitOfWork  # noqa: E402
from tests.harness import RunEnvironment, exported, run_environment  # noqa: E402

# A test run signs call contexts like any process of the suite (the events domain tests
# emit, RPC sent straight to a service), with a key of its own that the processes the
# integration tests start inherit.
os.environ[config.CONTEXT_SIGNING_KEY.name] = secrets.token_urlsafe(32)


@pytest.fixture(scope="session")
def test_environment() -> Iterator[RunEnvironment]:
    """A fresh database (every service's schema migrated) and vhost for this test run."""
    with run_environment() as env, exported(env):
        database.migrate_all()
        yield env


@pytest.fixture
def unit_of_work(
    test_environment: RunEnvironment,
) -> Callable[[str], AbstractContextManager[UnitOfWork]]:
    """`with unit_of_work("billing") as uow:` on the run's database, outside any service."""
    return database.unit_of_work


@pytest.fixture(autouse=True)
def fresh_call_context() -> Iterator[None]:
    """Tests that bind a caller (or run WSGI apps in this thread) leave no trace."""
    context.bind(context.CallContext())
    yield
    context.bind(context.CallContext())


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
