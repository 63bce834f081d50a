"""Request rates from `wrk` (a real load generator in C, not a Python loop that measures
itself): run it with a Lua script from bench/lua/, show progress while it runs, and read
its summary and latency distribution (`--latency`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

LUA_DIR = Path(__file__).resolve().parent / "lua"
# wrk's own default (2 s) would count a slow 1,000-event batch as a socket timeout.
REQUEST_TIMEOUT = "30s"

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_DURATION = r"([\d.]+)(us|ms|s|m)"
_PERCENTILE = re.compile(rf"^\s+(50|75|90|99)%\s+{_DURATION}\s*$", re.MULTILINE)
_TOTAL = re.compile(r"^\s+(\d+) requests in " + _DURATION, re.MULTILINE)
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_NON_2XX = re.compile(r"^\s+Non-2xx or 3xx responses: (\d+)", re.MULTILINE)
_SOCKET_ERRORS = re.compile(
    r"^\s+Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.MULTILINE
)


class WrkMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    timeouts: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNIT_MS[unit]


def parse(output: str) -> WrkResult:
    """wrk's text summary (run with --latency) as numbers; latencies in milliseconds."""
    percentiles = {int(p): _ms(v, u) for p, v, u in _PERCENTILE.findall(output)}
    total, rate = _TOTAL.search(output), _RATE.search(output)
    if total is None or rate is None or len(percentiles) != 4:
        raise ValueError(f"not wrk --latency output:\n{output}")
    non_2xx = _NON_2XX.search(output)
    errors = _SOCKET_ERRORS.search(output)
    counts = [int(n) for n in errors.groups()] if errors else [0, 0, 0, 0]
    return WrkResult(
        requests=int(total.group(1)),
        seconds=_ms(total.group(2), total.group(3)) / 1000,
        requests_per_second=float(rate.group(1)),
        p50_ms=percentiles[50],
        p75_ms=percentiles[75],
        p90_ms=percentiles[90],
        p99_ms=percentiles[99],
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(counts),
        timeouts=counts[3],
    )


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise WrkMissing("wrk is not installed: run `sh ops/wrk.sh` (make bench does)")
    return found


def run(
    label: str,
    url: str,
    *,
    script: str,
    seconds: int,
    threads: int = 2,
    connections: int = 50,
    env: dict[str, str] | None = None,
    quiet: bool = False,
) -> WrkResult:
    """`wrk -t -c -d --latency -s bench/lua/<script> url`, a progress line each second
    unless `quiet` (a load in the background); `env` reaches the script through os.getenv."""
    command = [
        wrk_binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={REQUEST_TIMEOUT}",
        "--latency",
        "-s",
        str(LUA_DIR / script),
        url,
    ]
    process = subprocess.Popen(
        command,
        env=os.environ | (env or {}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started = time.monotonic()
    while process.poll() is None:
        elapsed = time.monotonic() - started
        if not quiet:
            progress(f"{label}: {elapsed:4.0f} s of {seconds} s")
        time.sleep(min(1.0, max(0.05, seconds - elapsed)))
    output = process.stdout.read() if process.stdout else ""
    if not quiet:
        progress(f"{label}: done", end=True)
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{output}")
    return parse(output)


def progress(line: str, end: bool = False) -> None:
    """One line, rewritten in place, of what a running benchmark is doing."""
    sys.stdout.write(f"\r  {line:<70}")
    if end:
        sys.stdout.write("\n")
    sys.stdout.flush()
