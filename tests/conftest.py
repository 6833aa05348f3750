"""Test session: real embedded PostgreSQL and Redis (or DATABASE_URL/REDIS_URL), a database per xdist worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
# Each pytest session has its own services (initdb takes < 1 s), so concurrent sessions never stop
# each other's PostgreSQL; the directory is removed when the session ends.
TEST_DATA_DIR = Path(os.environ.get("O2O_TEST_DATA_DIR") or ROOT / ".data" / "test" / f"s{os.getpid()}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pytest_configure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        # Controller (or a run without xdist): start the services once; workers inherit the URLs.
        os.environ.setdefault("O2O_ENV", "dev")
        os.environ["O2O_TEST_DATA_DIR"] = str(TEST_DATA_DIR)  # the workers' TEST_DATA_DIR too
        os.environ["O2O_DATA_DIR"] = str(TEST_DATA_DIR)
        if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
            from core.embedded import ensure_services

            svc = ensure_services(
                Path(os.environ["O2O_DATA_DIR"]),
                database_url=os.environ.get("DATABASE_URL"),
                redis_url=os.environ.get("REDIS_URL"),
                fast=True,
            )
            config._o2o_services = svc  # type: ignore[attr-defined]
            os.environ["DATABASE_URL"] = svc.database_url
            os.environ["REDIS_URL"] = svc.redis_url
        os.environ["O2O_BASE_DATABASE_URL"] = os.environ["DATABASE_URL"]
        os.environ["O2O_BASE_REDIS_URL"] = os.environ["REDIS_URL"]
    _per_worker_env(worker)


def pytest_unconfigure(config: pytest.Config) -> None:
    svc = getattr(config, "_o2o_services", None)
    if svc is not None:
        svc.stop()
        if not os.environ.get("PYTEST_XDIST_WORKER"):
            shutil.rmtree(TEST_DATA_DIR, ignore_errors=True)


def _per_worker_env(worker: str | None) -> None:
    """Each xdist worker gets its own database, Redis db index and web port."""
    index = int(worker[2:]) if worker and worker.startswith("gw") else 0
    base_db = os.environ["O2O_BASE_DATABASE_URL"]
    prefix, _, _dbname = base_db.rpartition("/")
    os.environ["DATABASE_URL"] = f"{prefix}/o2o_test_{index}"
    base_redis = os.environ["O2O_BASE_REDIS_URL"].rstrip("/")
    redis_prefix = base_redis.rsplit("/", 1)[0] if base_redis.count("/") > 2 else base_redis
    os.environ["REDIS_URL"] = f"{redis_prefix}/{(index % 15) + 1}"
    port = _free_port()
    os.environ["PORT"] = str(port)
    os.environ["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    os.environ["O2O_DATA_DIR"] = str(TEST_DATA_DIR / f"w{index}")
    Path(os.environ["O2O_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    from core.settings import reset_settings

    reset_settings()


async def _recreate_database(url: str) -> None:
    import asyncpg

    prefix, _, dbname = url.rpartition("/")
    admin = prefix.replace("postgresql+asyncpg://", "postgresql://") + "/postgres"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            dbname,
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
        await conn.execute(f'CREATE DATABASE "{dbname}"')
    finally:
        await conn.close()


def alembic_upgrade(url: str, revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    command.upgrade(cfg, revision)


def alembic_downgrade(url: str, revision: str = "base") -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    command.downgrade(cfg, revision)


@pytest.fixture
def service_dir() -> Iterator[Path]:
    """A data dir for services a test starts itself. Not tmp_path: pytest re-closes /tmp/pytest-of-root to
    0700 whenever a session starts, and PostgreSQL runs as its own user when we are root."""
    path = Path(os.environ["O2O_DATA_DIR"]) / f"t-{uuid.uuid4().hex[:10]}"
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
async def database() -> AsyncIterator[str]:
    """This worker's database, built by `alembic upgrade head` (so the migrations are tested)."""
    url = os.environ["DATABASE_URL"]
    await _recreate_database(url)
    await asyncio.to_thread(alembic_upgrade, url)
    from core.app import register_domain_handlers

    register_domain_handlers()
    yield url
    from core.db import dispose_engine
    from core.redis import close_redis

    await dispose_engine()
    await close_redis()


async def truncate_all() -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from core.db import get_engine

    # The live server's background loops (sandbox notifies) may hold a lock for a moment: retry.
    for attempt in range(5):
        try:
            async with get_engine().begin() as conn:
                rows = await conn.execute(
                    text(
                        "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
                        "WHERE schemaname IN ('public', 'sandbox') AND tablename <> 'alembic_version'"
                    )
                )
                tables = [r[0] for r in rows]
                if tables:
                    await conn.execute(text("SET LOCAL lock_timeout = '5s'"))
                    await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            return
        except DBAPIError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))


@pytest.fixture
async def clean(database: str) -> AsyncIterator[None]:
    """Empty tables, an empty Redis db and a real-time clock for each test that uses the database."""
    from core import clock
    from core.redis import get_redis

    clock.reset()
    await truncate_all()
    await get_redis().flushdb()
    # Ids restart at 1 after TRUNCATE: the in-process catalogue page cache must forget too.
    from shop.catalogue.local_cache import forget_local

    forget_local()
    yield
    clock.reset()


@pytest.fixture
async def session(clean: None):  # type: ignore[no-untyped-def]
    """A session for arranging and asserting; commit explicitly when the code under test must see the data."""
    from core.db import sessionmaker

    async with sessionmaker()() as s:
        yield s


@pytest.fixture(scope="session")
async def app(database: str):  # type: ignore[no-untyped-def]
    from core.app import create_app

    return create_app()


@contextlib.asynccontextmanager
async def asgi_client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """httpx over ASGI in the test's own event loop (Litestar's test client runs another loop).

    Start-up hooks run once per app (the `app` fixture); the engine outlives each client.
    """
    if not getattr(app.state, "o2o_started", False):
        for hook in app.on_startup:
            result = hook()
            if asyncio.iscoroutine(result):
                await result
        app.state.o2o_started = True
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=os.environ["PUBLIC_BASE_URL"], timeout=10
    ) as c:
        yield c


@pytest.fixture
async def client(app, clean):  # type: ignore[no-untyped-def]
    """An HTTP client over ASGI (lifespan run) for the dev app."""
    async with asgi_client(app) as c:
        yield c


@pytest.fixture(scope="session")
async def live_server(app):  # type: ignore[no-untyped-def]
    """The dev app (sandbox at /sandbox) served over real HTTP on this worker's PORT, in the test loop."""
    import uvicorn

    port = int(os.environ["PORT"])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, loop="none", lifespan="on", log_config=None, access_log=False)
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture
async def live_app(live_server: str, clean: None) -> str:
    """Base URL of the live dev app, with clean tables for this test."""
    return live_server


@pytest.fixture
async def http(live_app: str) -> AsyncIterator[object]:
    import httpx

    async with httpx.AsyncClient(base_url=live_app, timeout=10) as c:
        yield c
