"""Health and outages: real PostgreSQL and Redis of the test's own, stopped and restarted under the app."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
from httpx import AsyncClient

from core import embedded
from core.app import create_app
from core.db import dispose_engine
from core.redis import close_redis
from core.settings import reset_settings
from tests.conftest import alembic_upgrade, asgi_client


async def test_health_ok_and_live(client: AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "redis": "ok"}
    r = await client.get("/health/live")
    assert r.json() == {"status": "ok"}
    metrics = (await client.get("/metrics")).text
    assert 'http_requests_total{method="GET",route="/health",status="200"}' in metrics


class Outage:
    """The app pointed at a PostgreSQL and a Redis that this test may stop and start."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pg = embedded.start_postgres(data_dir)  # durable settings: this test crashes it
        self.redis = embedded.start_redis(data_dir)

    def stop(self, svc: embedded.ServiceProc) -> None:
        embedded._stop_one(svc)

    def kill(self, svc: embedded.ServiceProc) -> None:
        psutil.Process(svc.pid).send_signal(signal.SIGKILL)
        psutil.Process(svc.pid).wait(10)

    def restart_pg(self) -> None:
        self.pg = embedded.start_postgres(self.data_dir, port=self.pg.port)


@pytest.fixture
async def outage(tmp_path: Path, database: str) -> AsyncIterator[Outage]:
    saved = {k: os.environ[k] for k in ("DATABASE_URL", "REDIS_URL")}
    o = Outage(tmp_path)
    os.environ["DATABASE_URL"] = embedded.pg_url(o.pg.port)
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{o.redis.port}/0"
    reset_settings()
    await dispose_engine()
    await close_redis()
    await asyncio.to_thread(alembic_upgrade, os.environ["DATABASE_URL"])
    try:
        yield o
    finally:
        await dispose_engine()
        await close_redis()
        for svc in (o.pg, o.redis):
            embedded._stop_one(svc)
        os.environ.update(saved)
        reset_settings()


async def test_redis_down_is_degraded_and_database_paths_keep_working(outage: Outage) -> None:
    async with asgi_client(create_app()) as client:
        assert (await client.get("/health")).json()["redis"] == "ok"
        outage.kill(outage.redis)
        r = await client.get("/health")
        assert r.status_code == 200
        assert r.json() == {"status": "degraded", "database": "ok", "redis": "down"}
        # A PostgreSQL-backed route still answers (wrong password is a 401, not a 5xx).
        r = await client.post("/api/auth/login", json={"username": "nobody", "password": "whatever1"})
        assert r.status_code == 401


async def test_database_down_is_503_and_the_app_recovers(outage: Outage) -> None:
    async with asgi_client(create_app()) as client:
        assert (await client.get("/health")).status_code == 200
        outage.kill(outage.pg)
        r = await client.get("/health")
        assert r.status_code == 503
        assert r.json()["database"] == "down"
        r = await client.post("/api/auth/login", json={"username": "nobody", "password": "whatever1"})
        assert r.status_code == 503
        assert r.json()["detail"] == "the database is unavailable; try again in a moment"
        assert (await client.get("/health/live")).status_code == 200
        outage.restart_pg()
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
