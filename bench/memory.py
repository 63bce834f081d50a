"""Memory: the resident size (RSS) of every process of the suite idle, under terminal and
ingest load, and over a soak of that load (`--soak-seconds`; the documented run is 600):
growth from the first minute of load to the end of the soak.
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

from bench import ingest, wrk
from bench.results import Report, Row
from bench.stack import Stack, Tenant

SAMPLE_SECONDS = 5.0
# Growth during the soak beyond this share of the loaded size counts as growing.
GROWTH_ALLOWED = 0.10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--soak-seconds", type=int, default=60, help="600 for the documented run")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def sample(stack: Stack) -> dict[str, float]:
    return {component: rss_mb(pid) for component, pid in stack.pids().items()}


def load(stack: Stack, tenant: Tenant, seconds: int) -> threading.Thread:
    """Terminal requests and usage batches at once, in the background."""

    def terminal() -> None:
        wrk.run(
            "soak: whoami",
            f"{stack.url}/v1/terminal/whoami",
            script="get.lua",
            seconds=seconds,
            threads=1,
            connections=10,
            env={"BENCH_API_KEY": tenant.api_key},
            quiet=True,
        )

    def usage() -> None:
        ingest.send_batches(stack, tenant, "soak: usage", seconds, connections=2, quiet=True)

    threads = [threading.Thread(target=terminal), threading.Thread(target=usage)]
    for thread in threads:
        thread.start()
    return threads


def run(stack: Stack, args: argparse.Namespace) -> Report:
    tenant = stack.new_tenant()
    idle = sample(stack)
    started = time.monotonic()
    running = load(stack, tenant, args.soak_seconds)
    samples: list[tuple[float, dict[str, float]]] = []
    while any(thread.is_alive() for thread in running):
        time.sleep(SAMPLE_SECONDS)
        elapsed = time.monotonic() - started
        samples.append((elapsed, sample(stack)))
        wrk.progress(
            f"soak: {elapsed:4.0f} s of {args.soak_seconds} s, "
            f"gateway {samples[-1][1].get('gateway', 0):.0f} MB"
        )
    for thread in running:
        thread.join()
    wrk.progress("soak: done", end=True)
    warm = next((s for t, s in samples if t >= min(60.0, args.soak_seconds / 2)), samples[0][1])
    peak = {c: max(s.get(c, 0.0) for _, s in samples) for c in idle}
    end = samples[-1][1]
    report = Report("memory")
    for component in idle:
        growth = end.get(component, 0.0) - warm.get(component, 0.0)
        report.add(
            Row(
                f"{component} RSS idle / loaded / peak / end",
                f"{idle[component]:.0f} / {warm.get(component, 0):.0f} / "
                f"{peak[component]:.0f} / {end.get(component, 0):.0f} MB",
                target=f"growth <= {GROWTH_ALLOWED:.0%}",
                met=growth <= GROWTH_ALLOWED * max(warm.get(component, 0.0), 1.0),
            )
        )
    report.figures = {
        "soak_seconds": args.soak_seconds,
        "idle_mb": idle,
        "samples": [{"seconds": round(t), "rss_mb": s} for t, s in samples],
    }
    return report
