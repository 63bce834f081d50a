"""`python -m bench NAME`: one benchmark, or `all`, against the suite started as in
production (separate processes) on a database, vhost, Redis namespace and ports of its own.
Each prints a table (ours, the baseline measured in the same run, the ratio, the target)
and writes var/bench/NAME.json. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from bench.results import Report
from bench.stack import bench_stack

BENCHMARKS = ("memory", "rpc", "terminal", "ingest", "billable", "usage_query", "billing")


def command_name(module: str) -> str:
    return module.replace("_", "-")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--log-level", default="INFO", help="LOG_LEVEL of the suite's processes")
    commands = parser.add_subparsers(dest="benchmark", required=True)
    modules = {name: importlib.import_module(f"bench.{name}") for name in BENCHMARKS}
    for name, module in modules.items():
        sub = commands.add_parser(command_name(name), help=module.__doc__.splitlines()[0])
        module.add_arguments(sub)
        sub.set_defaults(chosen=[name])
    every = commands.add_parser("all", help="every benchmark with its defaults, one stack")
    every.set_defaults(chosen=list(BENCHMARKS))
    args = parser.parse_args(argv)
    failed = []
    print("starting the suite for benchmarks (own database, vhost, ports) ...", flush=True)
    with bench_stack(args.log_level) as stack:
        print(f"suite ready at {stack.url}", flush=True)
        for name in args.chosen:
            module = modules[name]
            if args.benchmark == "all":
                defaults = argparse.ArgumentParser()
                module.add_arguments(defaults)
                options = defaults.parse_args([])
            else:
                options = args
            print(f"\n== {command_name(name)} ==", flush=True)
            try:
                report: Report = module.run(stack, options)
            except Exception as exc:
                # One benchmark that cannot run does not cost the others their figures.
                print(f"\n{command_name(name)} failed: {type(exc).__name__}: {exc}", flush=True)
                failed.append(f"{name}: did not run ({type(exc).__name__})")
                continue
            path = report.save()
            print(report.table())
            print(f"written: {path}", flush=True)
            failed += [f"{name}: {row.measure}" for row in report.rows if row.met is False]
    if failed:
        print("\ntargets missed:\n  " + "\n  ".join(failed))
    return 1 if any("did not run" in line for line in failed) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
