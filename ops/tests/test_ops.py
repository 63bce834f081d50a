from __future__ import annotations

import socket
from pathlib import Path

from ops.processes import Supervisor, port_is_free
from ops.table import format_table


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
