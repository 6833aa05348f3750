"""B0 serving baseline: /health/live and /health through the real server, pgbench, the load generator's ceiling."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from typing import Any

import httpx

from bench.common import ROOT, create_database, free_port, log, pgbench, serve, wrk

SECONDS = 5
CONNECTIONS = 64

# The smallest ASGI app there is, on granian: the ceiling of "wrk + this machine", not of our code.
CEILING_APP = textwrap.dedent(
    """
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})
    """
)


def loadgen_ceiling() -> tuple[float, float]:
    """(requests/s, wrk's CPU seconds per second of load) against a bare ASGI app."""
    path = ROOT / ".data" / "bench" / "ceiling_app.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CEILING_APP)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-ws",
            "--loop",
            "uvloop",
            "ceiling_app:app",
        ],
        cwd=path.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        result = wrk(f"http://127.0.0.1:{port}/", seconds=SECONDS, connections=CONNECTIONS)
        return result.rps, result.loadgen_cpu_s / SECONDS
    finally:
        proc.terminate()
        proc.wait(10)


def run() -> dict[str, Any]:
    figures: dict[str, Any] = {}
    per_server: dict[str, dict[str, float]] = {}
    for server in ("uvicorn", "granian"):
        log(f"B0: /health/live and /health on {server} ({SECONDS}s each, {CONNECTIONS} connections)")
        with serve(server) as srv:
            wrk(srv.url + "/health/live", seconds=1, connections=CONNECTIONS)  # warm-up
            live = wrk(srv.url + "/health/live", seconds=SECONDS, connections=CONNECTIONS)
            health = wrk(srv.url + "/health", seconds=SECONDS, connections=CONNECTIONS)
        per_server[server] = {
            "live_rps": round(live.rps),
            "live_p99_ms": round(live.p99_ms, 2),
            "health_rps": round(health.rps),
            "health_p99_ms": round(health.p99_ms, 2),
            "errors": live.errors + health.errors,
            "loadgen_cpu_s": round(live.loadgen_cpu_s, 2),
        }
    best = max(per_server, key=lambda s: per_server[s]["live_rps"])
    figures.update({k: v for k, v in per_server[best].items() if k not in ("errors", "loadgen_cpu_s")})
    figures["server"] = best
    figures["per_server"] = per_server
    log("B0: pgbench select-only and TPC-B (scale 10, 16 clients, 10 s each)")
    create_database("bench_pgbench")
    pgbench(["-i", "-q", "-s", "10"], "bench_pgbench")
    figures["pgbench_select_tps"] = round(pgbench(["-S", "-c", "16", "-j", "2", "-T", "10", "-n"], "bench_pgbench"))
    figures["pgbench_tpcb_tps"] = round(pgbench(["-c", "16", "-j", "2", "-T", "10", "-n"], "bench_pgbench"))
    log("B0: load generator ceiling (wrk against a bare ASGI app on granian)")
    ceiling, loadgen_cpu = loadgen_ceiling()
    figures["loadgen_ceiling_rps"] = round(ceiling)
    # wrk's own CPU at its ceiling, in cores (1.0 = one core busy): the load generator's cost on this machine.
    figures["loadgen_cpu_cores_at_ceiling"] = round(loadgen_cpu, 2)
    figures["live_ratio_to_ceiling"] = round(figures["live_rps"] / figures["loadgen_ceiling_rps"], 3)
    return figures
