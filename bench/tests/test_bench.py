"""The benchmarks' own code on canned input: wrk's output read right, profiles summed
right, results written as JSON and shown as a table, every command's options parsed. (The
benchmarks themselves run with `make bench`; nothing here is timed.)"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bench import __main__ as cli
from bench import ingest, profile, rpc, wrk
from bench.results import Report, Row, ratio

LOADED = """\
Running 20s test @ http://127.0.0.1:41231/v1/terminal/whoami
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    41.88ms   12.02ms 214.03ms   84.27%
    Req/Sec   601.05     92.11   800.00     71.25%
  Latency Distribution
     50%   39.95ms
     75%   45.22ms
     90%   54.10ms
     99%  101.37ms
  23960 requests in 20.02s, 10.26MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:   1196.80
Transfer/sec:    524.92KB
"""

QUICK = """\
Running 2s test @ http://127.0.0.1:18999/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.60ms    2.80ms  24.75ms   89.32%
    Req/Sec     0.92k   309.39     1.46k    65.00%
  Latency Distribution
     50%  953.00us
     75%    3.31ms
     90%    1.20s
     99%    1.50m
  1830 requests in 2.00s, 3.14MB read
Requests/sec:    912.83
Transfer/sec:      1.57MB
"""


def test_wrk_summary_and_latency_distribution_are_read() -> None:
    result = wrk.parse(LOADED)
    assert result.requests == 23960
    assert result.seconds == pytest.approx(20.02)
    assert result.requests_per_second == pytest.approx(1196.80)
    assert (result.p50_ms, result.p75_ms, result.p90_ms, result.p99_ms) == pytest.approx(
        (39.95, 45.22, 54.10, 101.37)
    )
    assert (result.non_2xx, result.socket_errors, result.timeouts) == (7, 5, 2)


def test_every_latency_unit_becomes_milliseconds() -> None:
    result = wrk.parse(QUICK)
    assert (result.p50_ms, result.p75_ms, result.p90_ms, result.p99_ms) == pytest.approx(
        (0.953, 3.31, 1200.0, 90_000.0)
    )
    assert (result.non_2xx, result.socket_errors) == (0, 0)


def test_output_without_latency_distribution_is_refused() -> None:
    without = "\n".join(line for line in LOADED.splitlines() if "%" not in line or "Req" in line)
    with pytest.raises(ValueError, match="not wrk --latency output"):
        wrk.parse(without)


def test_a_profile_is_summed_per_function_self_and_inclusive() -> None:
    collapsed = (
        "main (a.py:1);handle (gateway/http.py:10);send (eventlet/greenio/base.py:5) 30\n"
        "main (a.py:1);handle (gateway/http.py:12);dumps (json/__init__.py:2) 10\n"
        "main (a.py:1);handle (gateway/http.py:10) 10\n"
    )
    summary = profile.summarize(collapsed)
    assert summary["self"][0] == ("send (eventlet/greenio/base.py)", 60.0)
    assert dict(summary["self"])["handle (gateway/http.py)"] == 20.0
    assert dict(summary["inclusive"])["handle (gateway/http.py)"] == 100.0
    assert dict(summary["inclusive"])["dumps (json/__init__.py)"] == 20.0
    assert profile.summarize("") == {"self": [], "inclusive": []}


def test_a_report_is_a_table_and_a_json_file(tmp_path: Path) -> None:
    report = Report("terminal")
    report.add(Row("requests/s", "1,200", "3,400", ratio(1200, 3400), ">= 0.6", False))
    report.add(Row("p99", "40.0 ms", target="< 50 ms", met=True))
    report.figures = {"ours": {"p99_ms": 40.0}}
    lines = report.table().splitlines()
    assert lines[0].split() == ["measure", "ours", "baseline", "ratio", "target", "met"]
    assert "0.35" in lines[2] and lines[2].rstrip().endswith("NO")
    assert lines[3].rstrip().endswith("yes")
    written = json.loads(report.save(tmp_path).read_text())
    assert written["benchmark"] == "terminal"
    assert written["rows"][0]["ratio"] == "0.35"
    assert written["figures"] == {"ours": {"p99_ms": 40.0}}
    assert written["machine"]["cpus"] >= 1
    assert ratio(1.0, 0.0) is None


def test_accepted_requests_are_read_from_every_wrk_thread(tmp_path: Path) -> None:
    (tmp_path / "1.txt").write_text("r-1-1\nr-1-2\n")
    (tmp_path / "2.txt").write_text("r-2-1\n")
    assert ingest.read_accepted(tmp_path) == ["r-1-1", "r-1-2", "r-2-1"]


def test_percentiles_of_samples() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert rpc.percentile(samples, 0.5) == 51.0
    assert rpc.percentile(samples, 0.99) == 100.0


@pytest.mark.parametrize("name", cli.BENCHMARKS)
def test_every_benchmark_has_a_command_with_defaults(name: str) -> None:
    module = cli.importlib.import_module(f"bench.{name}")
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    defaults = parser.parse_args([])
    assert vars(defaults), f"{name} takes no options"
    assert callable(module.run)


def test_the_lua_scripts_the_benchmarks_name_exist() -> None:
    for script in ("get.lua", "usage_batches.lua"):
        assert (wrk.LUA_DIR / script).is_file()


def test_the_command_line_lists_every_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    for name in (*map(cli.command_name, cli.BENCHMARKS), "all"):
        assert name in shown
