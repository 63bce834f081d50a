"""Where a process spends its time under load: `py-spy record` on it while a benchmark
runs (sampling from outside, the process untouched), kept as collapsed stacks in
var/bench/<name>-<component>.txt and summarized as the functions most samples were in."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.results import RESULTS_DIR
from bench.stack import Stack

PY_SPY = Path(sys.executable).with_name("py-spy")
SAMPLES_PER_SECOND = 200
TOP = 25


@dataclass
class Profile:
    summary: dict[str, list[tuple[str, float]]] = field(default_factory=dict)


def summarize(collapsed: str, top: int = TOP) -> dict[str, list[tuple[str, float]]]:
    """From py-spy's raw output (`frame;frame;frame count` a line): the share of samples
    each function was running in (self) and was anywhere on the stack (inclusive)."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(frame) for frame in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            anywhere[frame] += count
    if not total:
        return {"self": [], "inclusive": []}
    return {
        "self": [(name, round(100 * n / total, 1)) for name, n in own.most_common(top)],
        "inclusive": [(name, round(100 * n / total, 1)) for name, n in anywhere.most_common(top)],
    }


def _function(frame: str) -> str:
    """`handle (gateway/http.py:251)` -> `handle (gateway/http.py)`: one entry per
    function, not per line."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0].rstrip(")")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


@contextmanager
def processes(
    stack: Stack, enabled: bool, name: str, components: tuple[str, ...] = ("gateway",)
) -> Iterator[dict[str, Profile]]:
    """Profiles of `components` while the block runs (empty ones unless `enabled`)."""
    with ExitStack() as profiling:
        yield {
            component: (
                profiling.enter_context(process(stack, component, name)) if enabled else Profile()
            )
            for component in components
        }


@contextmanager
def process(stack: Stack, component: str, name: str) -> Iterator[Profile]:
    pid = stack.supervisor.pid(component)
    if pid is None:
        raise RuntimeError(f"{component} is not running")
    output = RESULTS_DIR / f"{name}-{component}.txt"
    spy = subprocess.Popen(
        [
            str(PY_SPY),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            str(SAMPLES_PER_SECOND),
            "--nonblocking",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    profile = Profile()
    try:
        yield profile
    finally:
        spy.send_signal(signal.SIGINT)
        _, errors = spy.communicate(timeout=60)
    if not output.exists():
        raise RuntimeError(f"py-spy wrote no profile: {errors}")
    profile.summary = summarize(output.read_text())
    print(f"  profile of {component}: {output}")
