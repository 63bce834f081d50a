from __future__ import annotations

import os
import smtplib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops import processes
from ops.__main__ import main
from ops.processes import Supervisor, SupervisorError, free_port, port_is_free
from ops.table import format_table
from shared import config


def test_tables_line_up() -> None:
    text = format_table(["component", "state"], [("billing", "running"), ("gateway", "-")])
    assert text.splitlines() == [
        "component  state",
        "---------  -------",
        "billing    running",
        "gateway    -",
    ]


def test_a_busy_port_is_noticed() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert not port_is_free(f"127.0.0.1:{port}")
    assert port_is_free(f"127.0.0.1:{port}")


def test_a_stale_pid_file_means_stopped(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path)
    supervisor.pid_file("billing").write_text("1")  # pid 1 is not our launcher
    assert supervisor.pid("billing") is None
    rows = {row[0]: row[1:3] for row in supervisor.status_rows()}
    assert rows["billing"] == ("stopped", "-")


# --- a listener killed and started again on its port --------------------------------------------


def leftover_connections(port: int) -> list[str]:
    """TCP states (hex, as /proc/net/tcp has them) of non-listening sockets on `port`."""
    states = []
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = row.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] != "0A":
            states.append(fields[3])
    return states


@pytest.fixture
def mail_sink_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """`python -m ops` commands aimed at a mail sink (a real listener that needs no
    broker) on a port of its own; stopped at the end."""
    port = free_port()
    monkeypatch.setenv("CVT_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    yield port
    Supervisor(tmp_path).stop("mailsink")


def test_start_right_after_a_crash_listens_again(
    mail_sink_env: int, capsys: pytest.CaptureFixture[str]
) -> None:
    port = mail_sink_env
    assert main(["start", "mailsink"]) == 0
    client = smtplib.SMTP("127.0.0.1", port, timeout=5)
    client.ehlo()  # a connection open when the crash comes
    try:
        assert main(["kill", "mailsink"]) == 0
        # The killed server's side of the connection lingers (FIN_WAIT/TIME_WAIT), which
        # used to make the port look busy.
        assert leftover_connections(port)
        capsys.readouterr()

        assert main(["start", "mailsink"]) == 0
    finally:
        client.close()

    out = capsys.readouterr().out
    assert f"mailsink: listening on 127.0.0.1:{port}" in out
    assert smtplib.SMTP("127.0.0.1", port, timeout=5).noop()[0] == 250


def test_a_port_another_program_holds_is_an_error_on_stdout(
    mail_sink_env: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processes, "PORT_RELEASE_SECONDS", 0.3)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", mail_sink_env))
        squatter.listen()

        assert main(["start", "mailsink"]) == 1

    out = capsys.readouterr().out
    assert f"error: mailsink: cannot listen on 127.0.0.1:{mail_sink_env}" in out
    assert f"pid {os.getpid()} " in out  # this test process is the one listening
    assert "SMTP_HOST/SMTP_PORT" in out


def test_a_component_that_dies_while_starting_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(free_port())}
    supervisor = Supervisor(tmp_path, env=env)
    monkeypatch.setitem(processes.MODULES, "mailsink", ["ops.no_such_module"])
    supervisor.start("mailsink")
    with pytest.raises(SupervisorError, match="exited while starting") as raised:
        supervisor.wait_listening("mailsink", timeout=30)
    assert "No module named ops.no_such_module" in str(raised.value)  # its log's last lines


# --- the call-context signing key -----------------------------------------------------------


def environ_of(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(pair.decode().split("=", 1) for pair in pairs if b"=" in pair)


def test_without_a_key_in_the_environment_start_makes_one_keeps_it_and_hands_it_over(
    tmp_path: Path,
) -> None:
    name = config.CONTEXT_SIGNING_KEY.name
    env = {key: value for key, value in os.environ.items() if key != name}
    env |= {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(free_port())}
    supervisor = Supervisor(tmp_path, env=env)
    try:
        pid = supervisor.start("mailsink")
        key_file = tmp_path / processes.SIGNING_KEY_FILE
        key = key_file.read_text().strip()
        assert len(key) >= 32
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert environ_of(pid)[name] == key
    finally:
        supervisor.stop("mailsink")

    # The next run (another `make up`, `ops start`) uses the same key.
    again = Supervisor(tmp_path, env={k: v for k, v in env.items() if k != name})
    try:
        assert environ_of(again.start("mailsink"))[name] == key
    finally:
        again.stop("mailsink")
    assert sorted(p.name for p in tmp_path.iterdir() if "key" in p.name) == [key_file.name]


def test_a_key_the_environment_sets_wins(tmp_path: Path) -> None:
    name = config.CONTEXT_SIGNING_KEY.name
    env = {**os.environ, name: "k" * 40, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(free_port())}
    supervisor = Supervisor(tmp_path, env=env)
    try:
        assert environ_of(supervisor.start("mailsink"))[name] == "k" * 40
    finally:
        supervisor.stop("mailsink")
    assert not (tmp_path / processes.SIGNING_KEY_FILE).exists()
