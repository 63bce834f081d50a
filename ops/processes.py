"""Runs every service and the gateway as separate local processes.

Each component has a pid file and a log file under the var directory, so any one can be
stopped, killed or restarted alone while the others keep running.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import requests

from shared import config
from shared.waiting import DeadlineExceeded, wait_until

ROOT = Path(__file__).resolve().parent.parent
# The local mail sink stands in for an SMTP server; in production SMTP_HOST names a real one.
COMPONENTS: tuple[str, ...] = ("mailsink", *config.SERVICES, "gateway")
MODULES = {component: ["shared.launcher", component] for component in COMPONENTS} | {
    "mailsink": ["ops.mailsink"]
}


class SupervisorError(RuntimeError):
    pass


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "0.0.0.0", int(port)


def port_is_free(address: str) -> bool:
    # eventlet listens with SO_REUSEPORT, so a second gateway on a busy port would silently
    # share it instead of failing; check with a plain socket first.
    host, port = split_address(address)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


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

    def listen_address(self, component: str) -> str | None:
        if component == "gateway":
            return self.gateway_address
        if component == "mailsink":
            return f"{self.setting(config.SMTP_HOST)}:{self.setting(config.SMTP_PORT)}"
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
        if address is not None and not port_is_free(address):
            raise SupervisorError(f"{component}: address {address} is already in use")
        with self.log_file(component).open("ab") as log:
            process = subprocess.Popen(
                [self.python, "-m", *MODULES[component]],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file(component).write_text(str(process.pid))
        return process.pid

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
            return body if ok else None

        try:
            return wait_until(ready_body, timeout, "/v1/ready", interval=0.5)
        except DeadlineExceeded as exc:
            raise SupervisorError(f"{exc}; last answer: {last}") from exc

    def status_rows(self) -> list[tuple[str, str, str, str]]:
        rows = []
        for component in COMPONENTS:
            pid = self.pid(component)
            rows.append(
                (
                    component,
                    "running" if pid else "stopped",
                    str(pid or "-"),
                    str(self.log_file(component)),
                )
            )
        return rows
