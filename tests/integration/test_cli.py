"""The o2o command as an operator meets it: one-line errors, a second `run` refused, Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from tests.conftest import ROOT, _free_port

O2O = [sys.executable, "-m", "core.cli"]


def run_o2o(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PORT", "PUBLIC_BASE_URL")}
    return subprocess.run(
        [*O2O, *args], cwd=ROOT, env={**base, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert needle in lines[0]


def test_occupied_port_is_a_one_line_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = run_o2o(
            "serve",
            "--port",
            str(port),
            env={"DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"]},
        )
    assert_one_line_error(result, f"port {port} is already in use")


def test_unwritable_data_dir_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_o2o("migrate", env={"O2O_DATA_DIR": str(blocker / "data")})
    assert_one_line_error(result, "set O2O_DATA_DIR")


def test_bad_database_url_is_a_one_line_error() -> None:
    result = run_o2o(
        "migrate",
        env={
            "DATABASE_URL": f"postgresql://nobody@127.0.0.1:{_free_port()}/none",
            "REDIS_URL": os.environ["REDIS_URL"],
        },
    )
    assert_one_line_error(result, "cannot connect to the database")


def test_prod_with_sandbox_keys_refuses_to_start() -> None:
    result = run_o2o("migrate", env={"O2O_ENV": "prod"})
    assert_one_line_error(result, "O2O_ENV=prod refuses to start")
    assert "WECHAT_APPID still has the sandbox value" in result.stderr


def services_of(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if (proc.info["name"] or "").startswith(("postgres", "redis-server")) and str(data_dir) in cmd:
            found.append(proc)
    return found


def test_run_serves_refuses_a_second_copy_and_ctrl_c_stops_everything(service_dir: Path) -> None:
    port = _free_port()
    data = service_dir / "data"
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL")}
    env = {**base, "PORT": str(port), "O2O_DATA_DIR": str(data)}
    proc = subprocess.Popen(
        [*O2O, "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        health = None
        for _ in range(240):
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
                break
            except httpx.HTTPError:
                time.sleep(0.25)
        assert health == {"status": "ok", "database": "ok", "redis": "ok"}
        assert services_of(data), "the embedded services should be running"
        second = run_o2o("run", env={"PORT": str(_free_port()), "O2O_DATA_DIR": str(data)})
        assert_one_line_error(second, "already running")
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "storefront" in out
    for url in ("/sandbox/phone", "/staff", "/finance", "/admin"):
        assert f"http://127.0.0.1:{port}{url}" in out, out
    assert "finance / demo-finance-2024" in out and "demo-staff-2024" in out and "admin / demo-admin-2024" in out
    time.sleep(0.5)
    assert services_of(data) == []
    leftover = [p for p in psutil.process_iter(["pid"]) if _sid(p) == proc.pid]
    assert leftover == []


def _sid(p: psutil.Process) -> int | None:
    try:
        return os.getsid(p.pid)
    except OSError:
        return None
