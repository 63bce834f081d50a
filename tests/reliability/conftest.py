"""The reliability suite runs the whole suite as the integration tests do, but on a
database and vhost of its own: `make test` runs both folders in one session, and two
suites on one vhost would take each other's messages (a killed billing would go unnoticed
while the other suite's billing served its queue)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ops import database
from tests.harness import RunEnvironment, exported, run_environment
from tests.integration.conftest import STAFF_EMAIL, Person, Suite, running_suite


@pytest.fixture(scope="session")
def reliability_environment() -> Iterator[RunEnvironment]:
    """A fresh database (every service's schema migrated) and vhost for the faults here."""
    with run_environment() as environment:
        with exported(environment):
            database.migrate_all()
        yield environment


@pytest.fixture(scope="session")
def suite(
    reliability_environment: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Suite]:
    var_dir = Path(tmp_path_factory.mktemp("reliability-suite"))
    with running_suite(reliability_environment, var_dir) as running:
        yield running


@pytest.fixture
def staff(suite: Suite) -> Person:
    """A fresh staff session per test."""
    return suite.sign_in(STAFF_EMAIL)
