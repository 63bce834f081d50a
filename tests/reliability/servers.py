"""A PostgreSQL cluster and a RabbitMQ node of this test run's own, to stop and start under
load: the machine's own servers serve other test runs, which must not see the outage.

PostgreSQL through Debian's cluster tools (`pg_createcluster`, `pg_ctlcluster`,
`pg_dropcluster`: they run the server as the postgres user), RabbitMQ as a second node
beside the machine's (its own name, ports, data and log directories, config file, and no
plugins). Both are removed at the end, data included.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ops.processes import accepts_connections, free_port
from shared.waiting import wait_until

# A node or cluster takes a few seconds to start on an idle machine, much longer on a busy one.
START_SECONDS = 120.0
COMMAND_SECONDS = 120.0
RABBITMQ_USER = "rabbitmq"


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_SECONDS)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip()
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {said}")
    return done.stdout


def _postgres_version() -> str:
    versions = sorted(Path("/etc/postgresql").iterdir(), key=lambda p: int(p.name))
    return versions[-1].name


@dataclass
class PrivatePostgres:
    version: str
    name: str
    port: int

    @property
    def server_url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _ctl(self, action: str, *options: str) -> None:
        _run(
            "pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, action, *options
        )

    def start(self) -> None:
        self._ctl("start")
        wait_until(lambda: accepts_connections(self.address), START_SECONDS, "PostgreSQL to listen")

    def stop(self) -> None:
        """A fast shutdown: open transactions are rolled back, connections cut."""
        self._ctl("stop", "-m", "fast")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres(_postgres_version(), f"rel-{uuid.uuid4().hex[:8]}", free_port())
    # Trust on the loopback, as the machine's own cluster: the suite connects without a password.
    _run(
        "pg_createcluster", server.version, server.name, "-p", str(server.port),
        "--", "--auth=trust",
    )  # fmt: skip
    try:
        server.start()
        yield server
    finally:
        subprocess.run(
            ["pg_dropcluster", "--stop", server.version, server.name],
            capture_output=True,
            timeout=COMMAND_SECONDS,
        )


@dataclass
class PrivateRabbit:
    node: str
    port: int
    directory: Path
    vhost: str

    @property
    def amqp_uri(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{self.vhost}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        return {
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            # The machine's config file names the machine's listener; this one names ours.
            "RABBITMQ_CONFIG_FILE": str(self.directory / "rabbitmq.conf"),
            "RABBITMQ_MNESIA_BASE": str(self.directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.directory / "log"),
            # No management plugin: its port would clash with the machine's node.
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.directory / "enabled_plugins"),
        }

    def ctl(self, *args: str) -> str:
        return _run("rabbitmqctl", "-q", "-n", self.node, *args)

    def start(self) -> None:
        subprocess.run(
            ["rabbitmq-server", "-detached"],
            env=os.environ | self.environment(),
            check=True,
            capture_output=True,
            timeout=COMMAND_SECONDS,
        )
        wait_until(lambda: accepts_connections(self.address), START_SECONDS, "RabbitMQ to listen")
        self.ctl("await_startup")

    def stop(self) -> None:
        """The node stops as an operator stops it; durable queues and persistent messages
        are on disk, everything else (connections, exclusive reply queues) is gone."""
        self.ctl("stop")
        wait_until(lambda: not accepts_connections(self.address), START_SECONDS, "RabbitMQ to stop")


@contextmanager
def private_rabbit() -> Iterator[PrivateRabbit]:
    directory = Path(tempfile.mkdtemp(prefix="cvt-rel-rabbit-"))
    rabbit = PrivateRabbit(
        f"rel-{uuid.uuid4().hex[:8]}@localhost", free_port(), directory, "cvt-reliability"
    )
    (directory / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{rabbit.port}\n")
    (directory / "enabled_plugins").write_text("[].\n")
    # rabbitmq-server drops to the rabbitmq user, which must write here.
    directory.chmod(0o755)
    for path in (directory, *directory.iterdir()):
        shutil.chown(path, RABBITMQ_USER, RABBITMQ_USER)
    try:
        rabbit.start()
        # A vhost the machine's node does not have, so nothing can mistake one for the other.
        rabbit.ctl("add_vhost", rabbit.vhost)
        rabbit.ctl("set_permissions", "-p", rabbit.vhost, "guest", ".*", ".*", ".*")
        yield rabbit
    finally:
        subprocess.run(
            ["rabbitmqctl", "-q", "-n", rabbit.node, "stop"],
            capture_output=True,
            timeout=COMMAND_SECONDS,
        )
        shutil.rmtree(directory, ignore_errors=True)
