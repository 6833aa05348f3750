"""`make bench [ONLY=B0]`: runs scenarios on their own data dir, prints tables with ratios, merges
bench/results/latest.json (other scenarios' figures are kept) and rewrites bench/results/latest.md."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time
import traceback
from typing import Any

from bench.common import bench_services, fresh_database, log, merge_results, migrate, print_table, record_failure

# Scenario name -> module with run() -> dict of figures (contract.md's keys). A scenario whose module is
# not part of this build (B7 arrives with the coupons work) is listed but skipped with a note.
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


def available(name: str) -> bool:
    return importlib.util.find_spec(SCENARIOS[name]) is not None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="make bench")
    p.add_argument("--only", help="comma-separated scenario names, e.g. B0 or B2,B8")
    args = p.parse_args(argv)
    by_upper = {k.upper(): k for k in SCENARIOS}
    asked = [n.strip() for n in args.only.split(",")] if args.only else list(SCENARIOS)
    names = [by_upper.get(n.upper(), n) for n in asked]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"bench: unknown scenario {', '.join(unknown)}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    failed: list[str] = []
    timings: dict[str, float] = {}
    with bench_services():
        fresh_database()
        migrate()
        for name in names:
            if not available(name):
                log(f"{name}: {SCENARIOS[name]} is not part of this build; skipped")
                continue
            log(f"running {name}")
            started = time.perf_counter()
            try:
                figures: dict[str, Any] = importlib.import_module(SCENARIOS[name]).run()
            except Exception as exc:  # one broken scenario must not cost the others their figures
                traceback.print_exc()
                failed.append(name)
                record_failure(name, f"{type(exc).__name__}: {exc}"[:500])
                continue
            finally:
                timings[name] = round(time.perf_counter() - started, 1)
            figures.setdefault("bench_seconds", timings[name])
            data = merge_results({name: figures})
            print_table(name, figures, data)
    log(f"scenario wall times (s): {timings}")
    log("results merged into bench/results/latest.json and bench/results/latest.md")
    if failed:
        log(f"FAILED: {', '.join(failed)} (their earlier figures, if any, are kept; see _failures)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
