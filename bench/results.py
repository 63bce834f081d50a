"""What every benchmark hands back: rows for a person (ours, the baseline measured in the
same run, the ratio, the target and whether it was met), the figures behind them, written
to var/bench/<name>.json with the machine they were measured on."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.processes import ROOT
from ops.table import format_table

RESULTS_DIR = ROOT / "var" / "bench"
HEADERS = ("measure", "ours", "baseline", "ratio", "target", "met")


@dataclass(frozen=True)
class Row:
    measure: str
    ours: str
    baseline: str = "-"
    ratio: float | None = None
    target: str = "-"
    met: bool | None = None

    def cells(self) -> tuple[str, ...]:
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}"
        met = "-" if self.met is None else ("yes" if self.met else "NO")
        return (self.measure, self.ours, self.baseline, ratio, self.target, met)


@dataclass
class Report:
    name: str
    rows: list[Row] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def table(self) -> str:
        return format_table(HEADERS, [row.cells() for row in self.rows])

    def as_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.name,
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "rows": [dict(zip(HEADERS, row.cells(), strict=True)) for row in self.rows],
            "figures": self.figures,
        }

    def save(self, directory: Path = RESULTS_DIR) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.name}.json"
        path.write_text(json.dumps(self.as_dict(), indent=2, default=str) + "\n")
        return path


def ratio(ours: float, baseline: float) -> float | None:
    return ours / baseline if baseline else None


def _version(*command: str) -> str:
    if shutil.which(command[0]) is None:
        return "not installed"
    done = subprocess.run(command, capture_output=True, text=True, timeout=20)
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def machine() -> dict[str, Any]:
    with open("/proc/meminfo") as meminfo:
        total_kb = int(meminfo.readline().split()[1])
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(total_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": _version("wrk", "--version"),
        "postgres": _version("psql", "--version"),
        "redis": _version("redis-server", "--version"),
        "rabbitmq": _version("rabbitmqctl", "-q", "version"),
        "load_average": os.getloadavg(),
    }
