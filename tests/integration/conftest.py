"""The whole suite as real processes: every service and the gateway, on this run's own
database and vhost, reached over real HTTP."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, pool, text

from ops.processes import Supervisor
from tests.harness import RunEnvironment

ALLOWED_ORIGIN = "https://app.cvt.test"
MAX_BODY_BYTES = 64 * 1024


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Suite:
    supervisor: Supervisor
    url: str
    env: RunEnvironment

    def http(self, method: str, path: str, **kwargs: object) -> requests.Response:
        return requests.request(method, self.url + path, timeout=15, **kwargs)

    def sql(self, statement: str, **params: object) -> list:
        engine = create_engine(self.env.database_url, poolclass=pool.NullPool)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(statement), params))
        finally:
            engine.dispose()

    def log_text(self, component: str) -> str:
        return self.supervisor.log_file(component).read_text(errors="replace")


@pytest.fixture(scope="session")
def suite(
    test_environment: RunEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Suite]:
    env = (
        dict(os.environ)
        | test_environment.as_env()
        | {
            "GATEWAY_ADDRESS": f"127.0.0.1:{_free_port()}",
            "CORS_ORIGINS": ALLOWED_ORIGIN,
            "MAX_BODY_BYTES": str(MAX_BODY_BYTES),
            "OUTBOX_INTERVAL_SECONDS": "0.2",
            "READY_TIMEOUT_SECONDS": "1.0",
            "LOG_LEVEL": "INFO",
        }
    )
    supervisor = Supervisor(Path(tmp_path_factory.mktemp("suite")), env=env)
    supervisor.start_all()
    try:
        supervisor.wait_ready(timeout=120)
        yield Suite(supervisor, supervisor.gateway_url, test_environment)
    finally:
        supervisor.stop_all()
