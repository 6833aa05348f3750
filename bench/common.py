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


def migrate() -> None:
    subprocess.run([sys.executable, "-m", "core.cli", "migrate"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str

    def cpu_seconds(self) -> float:
        total = 0.0
        with contextlib.suppress(psutil.NoSuchProcess):
            p = psutil.Process(self.proc.pid)
            for q in [p, *p.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    t = q.cpu_times()
                    total += t.user + t.system
        return total


@contextlib.contextmanager
def serve(server: str = "uvicorn", workers: int = 1, env: dict[str, str] | None = None) -> Iterator[Server]:
    port = free_port()
    full_env = {**os.environ, "PORT": str(port), "LOG_LEVEL": "WARNING", **(env or {})}
    cmd = [sys.executable, "-m", "core.cli", "serve", "--server", server, "--workers", str(workers)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
        yield Server(proc, url)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


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


def merge_results(figures: dict[str, dict[str, Any]]) -> dict[str, Any]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "latest.json"
    data: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text())
    data.update(figures)
    data["machine"] = machine()
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    write_markdown(data)
    return data


def write_markdown(data: dict[str, Any]) -> None:
    lines = ["# Benchmark results", "", f"Machine: `{json.dumps(data.get('machine', {}), ensure_ascii=False)}`", ""]
    for name in sorted(k for k in data if k != "machine"):
        lines += [f"## {name}", "", "| figure | value |", "|---|---|"]
        for key, value in data[name].items():
            lines.append(f"| {key} | {value} |")
        lines.append("")
    (RESULTS / "latest.md").write_text("\n".join(lines))


def print_table(name: str, figures: dict[str, Any]) -> None:
    width = max(len(k) for k in figures)
    print(f"\n{name}")
    print("-" * (width + 20))
    for key, value in figures.items():
        print(f"  {key.ljust(width)}  {value}")
    print(flush=True)
