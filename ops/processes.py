"""Runs every service and the gateway as separate local processes.

Each component has a pid file and a log file under the var directory, so any one can be
stopped, killed or restarted alone while the others keep running.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from shared import config
from shared.waiting import DeadlineExceeded, wait_until

ROOT = Path(__file__).resolve().parent.parent
# The local mail sink stands in for an SMTP server, the Paynow simulator for Paynow; in
# production SMTP_HOST and PAYNOW_URL name the real ones.
COMPONENTS: tuple[str, ...] = ("mailsink", "paynow-simulator", *config.SERVICES, "gateway")
MODULES = {component: ["shared.launcher", component] for component in COMPONENTS} | {
    "mailsink": ["ops.mailsink"],
    "paynow-simulator": ["paynow_simulator"],
}
# The processes that serve Prometheus metrics. On one machine they cannot share a port:
# the n-th of them gets METRICS_PORT + n.
METERED: tuple[str, ...] = (*config.SERVICES, "gateway")


# Where `make up` keeps the call-context signing key it made, when the environment sets none.
SIGNING_KEY_FILE = "context-signing-key"
# And the Paynow integration (id:key) it made for the simulator, when none is set.
PAYNOW_INTEGRATION_FILE = "paynow-integration"

# How long `start` waits for another listener on the component's address to go away.
PORT_RELEASE_SECONDS = 5.0
EXEC_SECONDS = 10.0


STATUS_HEADERS = ("component", "state", "pid", "log", "metrics")


class SupervisorError(RuntimeError):
    pass


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "0.0.0.0", int(port)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (for tests and second stacks beside `make up`)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def free_ports(count: int, host: str = "127.0.0.1") -> int:
    """The first of `count` consecutive ports nothing listens on now."""
    while True:
        first = free_port(host)
        if first + count <= 65536 and all(
            port_is_free(f"{host}:{port}") for port in range(first, first + count)
        ):
            return first


def port_is_free(address: str) -> bool:
    """Whether a server could listen on `address` now.

    The probe binds as the servers do (eventlet and asyncio set SO_REUSEADDR), so the
    connections a crashed or stopped server leaves in TIME_WAIT or FIN_WAIT do not count:
    only another listener does. It does not set SO_REUSEPORT, which eventlet also sets: a
    second gateway on a busy port would silently share it instead of failing."""
    host, port = split_address(address)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def accepts_connections(address: str) -> bool:
    host, port = split_address(address)
    try:
        socket.create_connection((host if host != "0.0.0.0" else "127.0.0.1", port), 1).close()
    except OSError:
        return False
    return True


_LISTEN = "0A"  # the TCP state LISTEN in /proc/net/tcp


def listeners_of(port: int) -> list[str]:
    """The processes (of this user) listening on `port`, as "pid N (command)", read from
    /proc; empty where /proc says nothing readable."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    found = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in fd_dir.iterdir()):
                command = (fd_dir.parent / "cmdline").read_bytes().replace(b"\0", b" ")
                found.append(
                    f"pid {fd_dir.parent.name} ({command.decode(errors='replace').strip()})"
                )
    return found


def local_secret(path: Path, make: Callable[[], str]) -> str:
    """A secret made once and kept, readable by this user only. Written to a file of its
    own and linked into place, so a second `ops start` at the same moment reads the whole
    secret, never half of one."""
    if not path.exists():
        draft = path.with_name(f"{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(make() + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return path.read_text().strip()


def local_signing_key(var_dir: Path) -> str:
    return local_secret(var_dir / SIGNING_KEY_FILE, lambda: secrets.token_urlsafe(32))


def adopt_local_signing_key(var_dir: Path) -> None:
    """For admin commands that call or message the services (health, usage backfill):
    without CONTEXT_SIGNING_KEY in the environment, use the key `make up` keeps, if any."""
    name = config.CONTEXT_SIGNING_KEY.name
    kept = var_dir / SIGNING_KEY_FILE
    if not os.environ.get(name) and kept.exists():
        os.environ[name] = kept.read_text().strip()


def local_paynow_integration(var_dir: Path) -> tuple[str, str]:
    """An integration id and key for the simulator, shaped like Paynow's (a number and
    a GUID)."""
    made = local_secret(
        var_dir / PAYNOW_INTEGRATION_FILE,
        lambda: f"{secrets.randbelow(90000) + 10000}:{uuid.uuid4()}",
    )
    integration_id, _, key = made.partition(":")
    return integration_id, key


def _last_lines(path: Path, count: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-count:])
    except OSError:
        return "(no log)"


@dataclass
class Supervisor:
    var_dir: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    python: str = sys.executable

    def __post_init__(self) -> None:
        (self.var_dir / "run").mkdir(parents=True, exist_ok=True)
        (self.var_dir / "log").mkdir(parents=True, exist_ok=True)

    def pid_file(self, component: str) -> Path:
        return self.var_dir / "run" / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.var_dir / "log" / f"{component}.log"

    def setting(self, setting: config.Setting) -> str:
        return self.env.get(setting.name, setting.default)

    @property
    def gateway_address(self) -> str:
        return self.setting(config.GATEWAY_ADDRESS)

    def metrics_port(self, component: str) -> int | None:
        """Where the component serves /metrics (None: it does not, or METRICS_PORT=0)."""
        base = int(self.setting(config.METRICS_PORT))
        if component not in METERED or base == 0:
            return None
        return base + METERED.index(component)

    def component_env(self, component: str) -> dict[str, str]:
        port = self.metrics_port(component)
        return self.env if port is None else self.env | {config.METRICS_PORT.name: str(port)}

    def listen_address(self, component: str) -> str | None:
        if component == "gateway":
            return self.gateway_address
        if component == "mailsink":
            return f"{self.setting(config.SMTP_HOST)}:{self.setting(config.SMTP_PORT)}"
        if component == "paynow-simulator":
            return self.setting(config.PAYNOW_SIMULATOR_ADDRESS)
        return None

    @property
    def gateway_url(self) -> str:
        host, port = split_address(self.gateway_address)
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"

    def pid(self, component: str) -> int | None:
        """The component's pid if it is running (a stale pid file counts as not running)."""
        try:
            pid = int(self.pid_file(component).read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        if [arg.encode() for arg in MODULES[component]] == cmdline[2 : 2 + len(MODULES[component])]:
            return pid
        return None

    def start(self, component: str) -> int:
        if (running := self.pid(component)) is not None:
            return running
        address = self.listen_address(component)
        if address is not None:
            self._wait_port_free(component, address)
        self._ensure_signing_key()
        self._ensure_paynow_integration()
        with self.log_file(component).open("ab") as log:
            process = subprocess.Popen(
                [self.python, "-m", *MODULES[component]],
                cwd=ROOT,
                env=self.component_env(component),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file(component).write_text(str(process.pid))
        # Until the child has exec'd (green Popen may return before), /proc shows the
        # parent's command line and `pid()` would call the component stopped.
        try:
            wait_until(
                lambda: self.pid(component) is not None or process.poll() is not None,
                EXEC_SECONDS,
                f"{component} to start",
                interval=0.01,
            )
        except DeadlineExceeded as exc:
            raise SupervisorError(str(exc)) from exc
        return process.pid

    def _ensure_signing_key(self) -> None:
        """Every process needs the same key and refuses to start without one: a key the
        environment sets wins, else the one kept under the var directory."""
        name = config.CONTEXT_SIGNING_KEY.name
        if not self.env.get(name):
            self.env[name] = local_signing_key(self.var_dir)

    def _ensure_paynow_integration(self) -> None:
        """The payments service and the simulator must share an integration: one the
        environment sets wins, else the one kept under the var directory."""
        names = (config.PAYNOW_INTEGRATION_ID.name, config.PAYNOW_INTEGRATION_KEY.name)
        if not any(self.env.get(name) for name in names):
            self.env.update(zip(names, local_paynow_integration(self.var_dir), strict=True))

    def _wait_port_free(self, component: str, address: str) -> None:
        """A listener that is going away (a server still shutting down) gets a few seconds;
        one that stays is named in the error."""
        try:
            wait_until(lambda: port_is_free(address), PORT_RELEASE_SECONDS, f"{address} to be free")
        except DeadlineExceeded:
            holders = ", ".join(listeners_of(split_address(address)[1])) or "another process"
            raise SupervisorError(
                f"{component}: cannot listen on {address}: {holders} is listening there "
                f"(waited {PORT_RELEASE_SECONDS:g} s). Stop it, or set "
                f"{self._address_setting(component)} to another address."
            ) from None

    def _address_setting(self, component: str) -> str:
        if component == "gateway":
            return config.GATEWAY_ADDRESS.name
        if component == "paynow-simulator":
            return config.PAYNOW_SIMULATOR_ADDRESS.name
        return f"{config.SMTP_HOST.name}/{config.SMTP_PORT.name}"

    def wait_listening(self, component: str, timeout: float = 60.0) -> str | None:
        """After `start`: the address once the component accepts connections (None for a
        component without one). Raises with its last log lines if it exits first."""
        address = self.listen_address(component)
        if address is None:
            return None

        def listening() -> bool:
            if self.pid(component) is None:
                raise SupervisorError(
                    f"{component} exited while starting; the end of "
                    f"{self.log_file(component)}:\n{_last_lines(self.log_file(component))}"
                )
            return accepts_connections(address)

        try:
            wait_until(listening, timeout, f"{component} to listen on {address}", interval=0.2)
        except DeadlineExceeded as exc:
            raise SupervisorError(f"{exc}; see {self.log_file(component)}") from exc
        return address

    def stop(self, component: str, timeout: float = 20.0) -> bool:
        """Graceful stop (SIGTERM: in-flight workers finish), SIGKILL after `timeout`."""
        pid = self.pid(component)
        if pid is None:
            self.pid_file(component).unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        if not self._wait_gone(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, 5.0)
        self.pid_file(component).unlink(missing_ok=True)
        return True

    def kill(self, component: str) -> None:
        """SIGKILL, as a crash would: no cleanup, no goodbye."""
        pid = self.pid(component)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, 5.0)

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        def gone() -> bool:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return True  # our child, now reaped
            except ChildProcessError:
                pass  # not our child (started by an earlier command): look in /proc
            return not Path(f"/proc/{pid}").exists()

        try:
            return wait_until(gone, timeout, f"pid {pid} to exit")
        except DeadlineExceeded:
            return False

    def start_all(self) -> None:
        for component in COMPONENTS:
            self.start(component)

    def stop_all(self) -> None:
        for component in reversed(COMPONENTS):
            self.stop(component)

    def ready(self) -> tuple[bool, dict]:
        try:
            response = requests.get(f"{self.gateway_url}/v1/ready", timeout=5)
        except requests.RequestException as exc:
            return False, {"error": {"message": f"gateway not answering: {exc}"}}
        return response.status_code == 200, response.json()

    def wait_ready(self, timeout: float = 90.0) -> dict:
        last: dict = {}

        def ready_body() -> dict | None:
            ok, body = self.ready()
            last.update(body)
            for component in COMPONENTS:
                if self.pid(component) is None:
                    raise SupervisorError(
                        f"{component} is not running; see {self.log_file(component)}"
                    )
            # The gateway being ready says nothing of the mail sink and the simulator.
            listening = all(
                accepts_connections(address)
                for address in map(self.listen_address, COMPONENTS)
                if address is not None
            )
            return body if ok and listening else None

        try:
            return wait_until(ready_body, timeout, "/v1/ready", interval=0.5)
        except DeadlineExceeded as exc:
            raise SupervisorError(f"{exc}; last answer: {last}") from exc

    def metrics_url(self, component: str) -> str | None:
        port = self.metrics_port(component)
        return None if port is None else f"http://127.0.0.1:{port}/metrics"

    def status_rows(self) -> list[tuple[str, str, str, str, str]]:
        """One row per component, as STATUS_HEADERS name them."""
        rows = []
        for component in COMPONENTS:
            pid = self.pid(component)
            rows.append(
                (
                    component,
                    "running" if pid else "stopped",
                    str(pid or "-"),
                    str(self.log_file(component)),
                    self.metrics_url(component) or "-",
                )
            )
        return rows
