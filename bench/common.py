"""Bench harness: its own data dir and services, the server as `make run` serves it, wrk, pgbench, results."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from core.embedded import Services, ensure_services, free_port, pg_bin

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DATA_DIR = ROOT / ".data" / "bench"


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


@contextlib.contextmanager
def bench_services() -> Iterator[Services]:
    """The benchmarks' own PostgreSQL and Redis (never the data of a running `make run`)."""
    svc = ensure_services(
        DATA_DIR, database_url=os.environ.get("BENCH_DATABASE_URL"), redis_url=os.environ.get("BENCH_REDIS_URL")
    )
    os.environ["DATABASE_URL"] = svc.database_url
    os.environ["REDIS_URL"] = svc.redis_url
    os.environ["O2O_DATA_DIR"] = str(DATA_DIR)
    from core.settings import reset_settings

    reset_settings()
    try:
        yield svc
    finally:
        svc.stop()


def fresh_database() -> None:
    """Start `make bench` on an empty database and cache (the bench's own; never ones given by URL).

    A scenario leaves rows that would load the next run: B2 alone leaves ~3,000 unpaid orders a run, and
    their payment deadlines fall due 15 minutes later, so a later B2 measured the worker cancelling the
    previous runs' orders beside its own."""
    if os.environ.get("BENCH_DATABASE_URL"):
        return
    import asyncio

    import asyncpg

    url = os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    base, name = url.rsplit("/", 1)

    async def recreate() -> None:
        conn = await asyncpg.connect(base + "/postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(recreate())
    if not os.environ.get("BENCH_REDIS_URL"):  # ids start again at 1: no cached row of the old ones may survive
        import redis

        redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()


def migrate() -> None:
    subprocess.run([sys.executable, "-m", "core.cli", "migrate"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def _cpu(pid: int) -> float:
    total = 0.0
    with contextlib.suppress(psutil.NoSuchProcess):
        p = psutil.Process(pid)
        for q in [p, *p.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                t = q.cpu_times()
                total += t.user + t.system
    return total


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    worker: subprocess.Popen[bytes] | None = None

    def cpu_seconds(self) -> float:
        """The web server's CPU (its worker processes included), not the background worker's."""
        return _cpu(self.proc.pid)

    def worker_cpu_seconds(self) -> float:
        return _cpu(self.worker.pid) if self.worker is not None else 0.0


@contextlib.contextmanager
def serve(
    server: str = "uvicorn", workers: int = 1, env: dict[str, str] | None = None, *, with_worker: bool | None = None
) -> Iterator[Server]:
    """`o2o serve` as `make run` starts it, and (BENCH_WITH_WORKER=1, the default) `o2o worker` beside it: the
    deadline timers and the outbox run during the measurement, as they do in production."""
    port = free_port()
    full_env = {**os.environ, "PORT": str(port), "LOG_LEVEL": "WARNING", "O2O_RATE_LIMITS": "off", **(env or {})}
    cmd = [sys.executable, "-m", "core.cli", "serve", "--server", server, "--workers", str(workers)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if with_worker is None:
        with_worker = os.environ.get("BENCH_WITH_WORKER", "1") == "1"
    worker = None
    if with_worker:
        worker = subprocess.Popen(
            [sys.executable, "-m", "core.cli", "worker"],
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(url + "/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{server} did not start")
        yield Server(proc, url, worker)
    finally:
        for p in (proc, worker):
            if p is None:
                continue
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    log("installing wrk (Debian) for load generation ...")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=False, env=env, stdout=subprocess.DEVNULL)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env, stdout=subprocess.DEVNULL)
    return shutil.which("wrk") or "wrk"


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    loadgen_cpu_s: float


def wrk(url: str, *, seconds: int = 5, connections: int = 64, threads: int = 1, script: str | None = None) -> WrkResult:
    cmd = [ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        cmd += ["-s", script]
    before = psutil.Process().children()
    proc = subprocess.Popen([*cmd, url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ps = psutil.Process(proc.pid)
    cpu = 0.0
    out_parts = []
    while proc.poll() is None:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = ps.cpu_times()
            cpu = t.user + t.system
        time.sleep(0.2)
    out_parts.append(proc.stdout.read() if proc.stdout else "")
    out = "".join(out_parts)
    del before
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # Anchored: a "+/- Stdev" cell can also end in "50%".
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(x) for x in m.groups())
    return WrkResult(rps, p50, p99, total, errors, cpu)


def pgbench(args: list[str], database: str) -> float:
    """Run pgbench against the bench PostgreSQL; returns TPS (excluding connection time); 0 for -i."""
    url = os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    prefix = url.rsplit("/", 1)[0]
    out = subprocess.run(
        [str(pg_bin("pgbench")), *args, f"{prefix}/{database}"], capture_output=True, text=True, check=True
    ).stdout
    if "-i" in args:
        return 0.0
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    if not m:
        raise RuntimeError(out[-500:])
    return float(m.group(1))


def create_database(name: str) -> None:
    url = os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    prefix = url.rsplit("/", 1)[0]
    subprocess.run(
        [str(pg_bin("psql")), f"{prefix}/postgres", "-qc", f"DROP DATABASE IF EXISTS {name}"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [str(pg_bin("psql")), f"{prefix}/postgres", "-qc", f"CREATE DATABASE {name}"], check=True, capture_output=True
    )


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


# One `make bench` invocation: scenarios measured together carry the same run_id (ratios say whether their
# baseline was measured in the same run).
RUN_ID = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _load() -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        data: dict[str, Any] = json.loads((RESULTS / "latest.json").read_text())
        return data
    return {}


def _save(data: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    write_markdown(data)


def merge_results(figures: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Merge scenarios' figures into latest.json (every other key is kept) and rewrite latest.md."""
    data = _load()
    for name, values in figures.items():
        data[name] = {**values, "run_id": RUN_ID}
        data.get("_failures", {}).pop(name, None)
    data["machine"] = machine()
    _save(data)
    return data


def record_failure(name: str, error: str) -> None:
    data = _load()
    data.setdefault("_failures", {})[name] = {"error": error, "run_id": RUN_ID}
    _save(data)


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return "`" + json.dumps(value, ensure_ascii=False) + "`"
    return str(value)


def write_markdown(data: dict[str, Any]) -> None:
    from bench.ratios import comparisons

    scenarios = sorted((k for k in data if k[:1] == "B"), key=lambda k: (int(re.sub(r"\D", "", k) or 0), k))
    lines = [
        "# Benchmark results",
        "",
        'Written by `make bench` (see the README, "Reading the benchmarks"). Each scenario\'s `run_id` is the',
        "`make bench` run that measured it; a ratio whose baseline comes from another run is marked.",
        "",
        f"Machine: `{json.dumps(data.get('machine', {}), ensure_ascii=False)}`",
        "",
        "## Ratios (figure / baseline)",
        "",
        "| figure | value | baseline | baseline value | ratio | same run | reads as |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in comparisons(data):
        lines.append(
            f"| {row['figure']} | {row['value']:g} | {row['baseline']} | {row['baseline_value']:g} | "
            f"{row['ratio']} | {'yes' if row['same_run'] else 'no'} | {row['reads']} |"
        )
    if data.get("_failures"):
        lines += ["", "## Failed in their last run", ""]
        lines += [f"- {k}: {v['error']} ({v['run_id']})" for k, v in sorted(data["_failures"].items())]
    lines.append("")
    for name in scenarios:
        lines += [f"## {name}", "", "| figure | value |", "|---|---|"]
        for key, value in data[name].items():
            lines.append(f"| {key} | {_cell(value)} |")
        lines.append("")
    (RESULTS / "latest.md").write_text("\n".join(lines))


def print_table(name: str, figures: dict[str, Any], data: dict[str, Any] | None = None) -> None:
    from bench.ratios import comparisons

    width = max(len(k) for k in figures)
    print(f"\n{name}")
    print("-" * (width + 20))
    for key, value in figures.items():
        print(f"  {key.ljust(width)}  {value}")
    for row in comparisons(data or {name: figures}, name):
        note = "" if row["same_run"] else " (baseline from an earlier run)"
        print(
            f"  ratio {row['figure']} / {row['baseline']} = {row['value']:g} / {row['baseline_value']:g} "
            f"= {row['ratio']}{note}  [{row['reads']}]"
        )
    print(flush=True)
