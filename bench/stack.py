"""The suite as production runs it, for benchmarks: every service, the gateway, the mail
sink and the Paynow simulator as separate processes, on a database, RabbitMQ vhost, Redis
namespace and ports of the benchmark's own (`tests.harness`), so neither `make up` nor a
test run beside it is disturbed. Dropped at the end.

Also the callers a benchmark needs: a staff session, an organization with an API key of
every terminal scope, and SQL on the stack's database.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.results import RESULTS_DIR
from ops import database
from ops.processes import COMPONENTS, METERED, ROOT, Supervisor, free_port, free_ports
from ops.seed import seed
from shared import config
from shared.waiting import wait_until
from tests.harness import RunEnvironment, environ, run_environment, run_sql

STAFF_EMAIL = "bench-staff@cvt.test"
TERMINAL_SCOPES = ["pos:read", "usage:write", "usage:read"]
# Above anything a benchmark sends in an hour, so the limit is checked but never refuses.
RATE_LIMIT = 1_000_000


@dataclass
class Tenant:
    """An organization of the bench stack and the callers that act in it."""

    organization_id: str
    api_key: str
    owner_auth: dict[str, str]


@dataclass
class Stack:
    supervisor: Supervisor
    env: RunEnvironment
    process_env: dict[str, str]
    staff_auth: dict[str, str]

    @property
    def url(self) -> str:
        return self.supervisor.gateway_url

    def http(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return requests.request(method, self.url + path, **kwargs)

    def new_tenant(self) -> Tenant:
        """An organization owned by the staff user, and an API key with every terminal
        scope and a limit no benchmark reaches (the check still runs on every request)."""
        created = self.http(
            "POST",
            "/v1/organizations",
            json={"name": f"Bench {uuid.uuid4().hex[:8]}", "email": "bench@example.co.zw"},
            headers=self.staff_auth,
        )
        created.raise_for_status()
        org_id = created.json()["id"]
        key = self.http(
            "POST",
            f"/v1/organizations/{org_id}/api-keys",
            json={"name": "bench till", "scopes": TERMINAL_SCOPES, "rate_limit": RATE_LIMIT},
            headers=self.staff_auth,
        )
        key.raise_for_status()
        return Tenant(org_id, key.json()["key"], self.staff_auth)

    def sql(self, statement: str, **params: object) -> list[Any]:
        return run_sql(self.env.database_url, statement, **params)

    def pids(self) -> dict[str, int]:
        return {c: pid for c in COMPONENTS if (pid := self.supervisor.pid(c)) is not None}

    def spawn(self, module: str, *args: str, log_name: str) -> subprocess.Popen:
        """A helper process of the benchmark (a bare service), with the stack's settings;
        its output goes to var/bench/log/<log_name>.log."""
        with (self.supervisor.var_dir / "log" / f"{log_name}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", module, *args],
                cwd=ROOT,
                env=self.process_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def wait_serving(url: str, timeout: float = 60.0) -> None:
    def answers() -> bool:
        try:
            return requests.get(url, timeout=1).status_code < 500
        except requests.RequestException:
            return False

    wait_until(answers, timeout, f"{url} to answer", interval=0.2)


@contextmanager
def bench_stack(log_level: str = "INFO") -> Iterator[Stack]:
    """Start the whole suite on its own database, vhost, Redis namespace, ports and
    var/bench/stack-<id> directory (pid files, logs); stop it and drop its database and
    vhost at the end, and its directory unless it failed."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with run_environment() as env:
        password = secrets.token_urlsafe(18)
        # This process signs call contexts too (RPC benchmarks), with the stack's key.
        own = env.as_env() | {
            config.CVT_ADMIN_EMAIL.name: STAFF_EMAIL,
            config.CVT_ADMIN_PASSWORD.name: password,
            config.CONTEXT_SIGNING_KEY.name: secrets.token_urlsafe(32),
        }
        with environ(own):
            database.migrate_all()
            seed()
            # A directory per run: two benchmarks started at once must not share pid files.
            run_dir = RESULTS_DIR / f"stack-{uuid.uuid4().hex[:8]}"
            paynow_port = free_port()
            process_env = (
                dict(os.environ)
                | env.as_env()
                | {
                    config.GATEWAY_ADDRESS.name: f"127.0.0.1:{free_port()}",
                    config.PAYNOW_SIMULATOR_ADDRESS.name: f"127.0.0.1:{paynow_port}",
                    config.PAYNOW_URL.name: f"http://127.0.0.1:{paynow_port}",
                    config.SMTP_HOST.name: "127.0.0.1",
                    config.SMTP_PORT.name: str(free_port()),
                    config.METRICS_PORT.name: str(free_ports(len(METERED))),
                    config.CVT_VAR_DIR.name: str(run_dir),
                    config.LOG_LEVEL.name: log_level,
                    # Migrated above, once, rather than by seven processes at once.
                    config.MIGRATE_ON_START.name: "false",
                }
            )
            supervisor = Supervisor(run_dir, env=process_env)
            supervisor.start_all()
            try:
                supervisor.wait_ready(timeout=180)
                signed_in = requests.post(
                    f"{supervisor.gateway_url}/v1/auth/sign-in",
                    json={"email": STAFF_EMAIL, "password": password},
                    timeout=30,
                )
                signed_in.raise_for_status()
                staff = {"Authorization": f"Bearer {signed_in.json()['token']}"}
                yield Stack(supervisor, env, process_env, staff)
            finally:
                supervisor.stop_all()
            # Kept when the run failed: its logs say why.
            shutil.rmtree(run_dir)


def var_dir(*parts: str) -> Path:
    """A directory of its own under var/bench for one run's files."""
    path = RESULTS_DIR.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
