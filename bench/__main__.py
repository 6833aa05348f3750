"""`make bench [ONLY=B0]`: runs scenarios on their own data dir, prints tables, merges bench/results/latest.json."""

from __future__ import annotations

import argparse
import importlib
import sys

from bench.common import bench_services, log, merge_results, migrate, print_table

# Scenario name -> module with run() -> dict of figures (contract.md's keys).
SCENARIOS = {
    "B0": "bench.b0",
    "B1": "bench.b1",
    "B2": "bench.b2",
    "B3": "bench.b3",
    "B4a": "bench.b4a",
    "B4b": "bench.b4b",
    "B5": "bench.b5",
    "B5r": "bench.b5r",
    "B6": "bench.b6",
    "B7": "bench.b7",
    "B8": "bench.b8",
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="make bench")
    p.add_argument("--only", help="comma-separated scenario names, e.g. B0")
    args = p.parse_args(argv)
    by_upper = {k.upper(): k for k in SCENARIOS}
    asked = [n.strip() for n in args.only.split(",")] if args.only else list(SCENARIOS)
    names = [by_upper.get(n.upper(), n) for n in asked]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"bench: unknown scenario {', '.join(unknown)}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    with bench_services():
        migrate()
        for name in names:
            log(f"running {name}")
            figures = importlib.import_module(SCENARIOS[name]).run()
            print_table(name, figures)
            merge_results({name: figures})
    log("results merged into bench/results/latest.json and bench/results/latest.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
