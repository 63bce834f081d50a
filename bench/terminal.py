"""Terminal requests: `GET /v1/terminal/whoami` with an API key (key check, suspension
check, rate limit and `api.call` metering all on) against a bare Nameko `@http` handler
returning a constant, started in the same run; both with `wrk -t2 -c50`.

Target: at least 0.6 of the bare handler's requests/s, p99 under 50 ms.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from bench import profile, wrk
from bench.results import Report, Row, ratio
from bench.stack import Stack, stop_process, wait_serving
from ops.processes import free_port

TARGET_RATIO = 0.6
TARGET_P99_MS = 50.0
WARM_UP_SECONDS = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=int, default=20, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--profile", action="store_true", help="py-spy the gateway during the run")


def run(stack: Stack, args: argparse.Namespace) -> Report:
    tenant = stack.new_tenant()
    address = f"127.0.0.1:{free_port()}"
    bare = stack.spawn("bench.bare_service", address, log_name="bare-service")
    try:
        bare_url = f"http://{address}/bare"
        wait_serving(bare_url)
        ours_url = f"{stack.url}/v1/terminal/whoami"
        key = {"BENCH_API_KEY": tenant.api_key}
        load = {"seconds": args.seconds, "connections": args.connections, "script": "get.lua"}
        warm = {**load, "seconds": WARM_UP_SECONDS}
        wrk.run("warm-up, bare", bare_url, **warm)
        wrk.run("warm-up, whoami", ours_url, env=key, **warm)
        baseline, bare_cpu = cpu_of(
            bare.pid, lambda: wrk.run("bare @http handler", bare_url, **load)
        )
        gateway_pid = stack.pids()["gateway"]
        with profile.processes(stack, args.profile, "terminal") as profiles:
            ours, ours_cpu = cpu_of(
                gateway_pid, lambda: wrk.run("GET /v1/terminal/whoami", ours_url, env=key, **load)
            )
    finally:
        stop_process(bare)
    report = Report("terminal")
    share = ratio(ours.requests_per_second, baseline.requests_per_second)
    report.add(
        Row(
            f"requests/s (wrk -t2 -c{args.connections})",
            f"{ours.requests_per_second:,.0f}",
            f"{baseline.requests_per_second:,.0f}",
            share,
            f">= {TARGET_RATIO} x baseline",
            share is not None and share >= TARGET_RATIO,
        )
    )
    for name in ("p50_ms", "p90_ms", "p99_ms"):
        target_met = ours.p99_ms < TARGET_P99_MS if name == "p99_ms" else None
        report.add(
            Row(
                f"latency {name[:3]}",
                f"{getattr(ours, name):.1f} ms",
                f"{getattr(baseline, name):.1f} ms",
                ratio(getattr(ours, name), getattr(baseline, name)),
                f"< {TARGET_P99_MS:g} ms" if name == "p99_ms" else "-",
                target_met,
            )
        )
    ours_ms, bare_ms = (1000 * ours_cpu / ours.requests, 1000 * bare_cpu / baseline.requests)
    # What a shared machine does not distort: the serving process's own CPU per request.
    report.add(
        Row(
            "CPU of the serving process per request",
            f"{ours_ms:.2f} ms",
            f"{bare_ms:.2f} ms",
            ratio(ours_ms, bare_ms),
        )
    )
    report.add(
        Row(
            "errors (non-2xx, socket)",
            f"{ours.non_2xx}, {ours.socket_errors}",
            f"{baseline.non_2xx}, {baseline.socket_errors}",
            None,
            "0",
            ours.non_2xx + ours.socket_errors == 0,
        )
    )
    report.figures = {
        "ours": ours.as_dict() | {"cpu_ms_per_request": ours_ms},
        "baseline": baseline.as_dict() | {"cpu_ms_per_request": bare_ms},
    }
    if args.profile:
        report.figures["profile"] = {name: p.summary for name, p in profiles.items()}
    return report


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int, work: Callable[[], wrk.WrkResult]) -> tuple[wrk.WrkResult, float]:
    before = cpu_seconds(pid)
    result = work()
    return result, cpu_seconds(pid) - before
