"""Health and outages: real PostgreSQL and Redis of the test's own, stopped and restarted under the app."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psutil
import pytest
from httpx import AsyncClient

from core import embedded
from tests.conftest import ROOT, _free_port, alembic_upgrade


async def test_health_ok_and_live(client: AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "redis": "ok"}
    r = await client.get("/health/live")
    assert r.json() == {"status": "ok"}
    metrics = (await client.get("/metrics")).text
    assert 'http_requests_total{method="GET",route="/health",status="200"}' in metrics


class Outage:
    """`o2o serve` in its own process on a PostgreSQL and a Redis that this test stops and restarts."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pg = embedded.start_postgres(data_dir)  # durable settings: this test crashes it
        self.redis = embedded.start_redis(data_dir)
        self.env = {
            **os.environ,
            "DATABASE_URL": embedded.pg_url(self.pg.port),
            "REDIS_URL": f"redis://127.0.0.1:{self.redis.port}/0",
            "O2O_DATA_DIR": str(data_dir),
        }
        alembic_upgrade(self.env["DATABASE_URL"])
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.env.update({"PORT": str(port), "PUBLIC_BASE_URL": self.url})
        self.server = subprocess.Popen(
            [sys.executable, "-m", "core.cli", "serve", "--server", "uvicorn"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def wait_ready(self, client: httpx.AsyncClient) -> None:
        for _ in range(1200):  # up to a minute: a loaded 2-core machine starts Python slowly
            try:
                if (await client.get("/health/live")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError("the server did not start")

    def kill(self, svc: embedded.ServiceProc) -> None:
        psutil.Process(svc.pid).send_signal(signal.SIGKILL)
        psutil.Process(svc.pid).wait(10)

    def restart_pg(self) -> None:
        self.pg = embedded.start_postgres(self.data_dir, port=self.pg.port)

    def close(self) -> None:
        self.server.terminate()
        try:
            self.server.wait(15)
        except subprocess.TimeoutExpired:
            self.server.kill()
        for svc in (self.pg, self.redis):
            embedded._stop_one(svc)


@pytest.fixture
async def outage(service_dir: Path) -> AsyncIterator[tuple[Outage, httpx.AsyncClient]]:
    o = await asyncio.to_thread(Outage, service_dir)
    try:
        async with httpx.AsyncClient(base_url=o.url, timeout=10) as client:
            await o.wait_ready(client)
            yield o, client
    finally:
        await asyncio.to_thread(o.close)


async def test_redis_down_is_degraded_and_database_paths_keep_working(outage: tuple[Outage, httpx.AsyncClient]) -> None:
    o, client = outage
    assert (await client.get("/health")).json()["redis"] == "ok"
    o.kill(o.redis)
    r = await client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "degraded", "database": "ok", "redis": "down"}
    # A PostgreSQL-backed route still answers (wrong password is a 401, not a 5xx).
    r = await client.post("/api/auth/login", json={"username": "nobody", "password": "whatever1"})
    assert r.status_code == 401


async def test_database_down_is_503_and_the_app_recovers(outage: tuple[Outage, httpx.AsyncClient]) -> None:
    o, client = outage
    assert (await client.get("/health")).status_code == 200
    o.kill(o.pg)
    r = await client.get("/health")
    assert r.status_code == 503
    assert r.json()["database"] == "down"
    r = await client.post("/api/auth/login", json={"username": "nobody", "password": "whatever1"})
    assert r.status_code == 503
    assert r.json()["detail"] == "the database is unavailable; try again in a moment"
    assert (await client.get("/health/live")).status_code == 200
    await asyncio.to_thread(o.restart_pg)
    for _ in range(50):
        r = await client.get("/health")
        if r.status_code == 200:
            break
        await asyncio.sleep(0.1)
    assert r.json() == {"status": "ok", "database": "ok", "redis": "ok"}
    r = await client.post("/api/auth/login", json={"username": "nobody", "password": "whatever1"})
    assert r.status_code == 401


async def test_openapi_schema_and_browsable_page_work_offline(client: AsyncClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert schema["openapi"].startswith("3.1")
    assert "/health" in schema["paths"] and "/api/auth/login" in schema["paths"]
    page = await client.get("/schema")
    assert page.status_code == 200
    assert "/static/vendor/rapidoc-min.js" in page.text and "https://" not in page.text.split("<body")[0]
    js = await client.get("/static/vendor/rapidoc-min.js")
    assert js.status_code == 200 and len(js.content) > 100_000
