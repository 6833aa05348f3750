"""Fault injection: 50 concurrent customers order an urgent delivery, pay in the WeChat sandbox (JSAPI), the notify
marks the orders paid and dispatch offers them to stores, whose staff claim them; some customers never pay (their
payment deadline cancels), and for some orders the staff let the first ring's offers expire (the ring timer widens).
In the middle: kill -9 of the web process, of the worker, of Redis, and a PostgreSQL crash (kill -9) and restart — on
`o2o serve` and `o2o worker` running as real processes on this module's own PostgreSQL and Redis.

Afterwards, from the database: paid exactly once, every timer's effect exactly once, no order lost or assigned to
two stores, the stock log and the ledger (`o2o ledger check`) balance; and /health told the truth during outages.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.reliability.cluster import Cluster, World
from tests.reliability.conftest import assert_invariants, running_cluster, until
from tests.reliability.flow import Wave, health_while, retry_db

CUSTOMERS = 50
pytestmark = pytest.mark.xdist_group("reliability-faults")  # one cluster, on one xdist worker


@pytest.fixture(scope="module")
async def cluster(cluster_dir: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(cluster_dir, webs=1, workers=1, customers=CUSTOMERS) as c:
        yield c


@pytest.fixture(scope="module")
def world(cluster: Cluster) -> World:
    assert cluster.world is not None
    return cluster.world


async def run_wave(wave: Wave, fault: object) -> None:
    """Customers and the staff bot run; `fault` (a coroutine function) strikes once some orders exist."""
    stop = asyncio.Event()
    bot = asyncio.create_task(wave.staff_bot(stop))
    customers = asyncio.create_task(wave.run_customers())
    try:
        await fault()  # type: ignore[operator]
        await customers
        await wave.fire_deadlines()
        await wave.wait_settled()
    finally:
        stop.set()
        customers.cancel()
        await asyncio.gather(bot, customers, return_exceptions=True)
    assert wave.unexpected == [], wave.unexpected[:5]
    # Every slow order's first ring expired by its timer and a store of ring 2 took it.
    slow = await retry_db(
        wave.cluster,
        "SELECT count(*) FROM dispatch_offers f JOIN orders o ON o.id = f.order_id "
        "WHERE o.public_id = ANY($1::text[]) AND f.ring = 1 AND f.status = 'expired'",
        sorted(wave.slow_orders - {wave.orders[i] for i in range(wave.customers) if wave.abandons(i)}),
    )
    assert slow[0][0] > 0
    await assert_invariants(wave.cluster)


async def test_web_process_killed_mid_flow(cluster: Cluster, world: World) -> None:
    wave = Wave(cluster, world, "kill-web", customers=CUSTOMERS)

    async def fault() -> None:
        await until(lambda: len(wave.orders) >= 15, what="orders to be placed")
        cluster.web(0).kill9()
        await asyncio.sleep(0.5)
        await cluster.start(cluster.web(0))

    await run_wave(wave, fault)
    assert wave.transport_errors > 0, "the kill should have dropped some connections"
    assert cluster.web(0).starts == 2


async def test_worker_killed_mid_flow(cluster: Cluster, world: World) -> None:
    wave = Wave(cluster, world, "kill-worker", customers=CUSTOMERS)

    async def fault() -> None:
        async def dispatching() -> bool:
            rows = await cluster.sql("SELECT count(*) FROM dispatches WHERE status IN ('pending', 'offering')")
            return bool(rows[0][0] >= 5)

        await until(dispatching, what="dispatches to be under way")
        cluster.worker(0).kill9()
        await asyncio.sleep(1.0)
        await cluster.start(cluster.worker(0))

    await run_wave(wave, fault)
    assert cluster.worker(0).starts >= 2


async def test_redis_killed_ordering_continues_degraded(cluster: Cluster, world: World) -> None:
    wave = Wave(cluster, world, "kill-redis", customers=CUSTOMERS)
    seen: list[tuple[int, dict[str, object]]] = []
    placed_during: list[int] = []

    async def fault() -> None:
        await until(lambda: len(wave.orders) >= 10, what="orders to be placed")
        stop = asyncio.Event()
        cluster.kill_redis()
        watcher = asyncio.create_task(health_while(cluster, 0, stop, seen))
        before = len(wave.orders)
        # Ordering and paying keep working without Redis: wait for more orders to be placed and paid.
        await until(lambda: len(wave.orders) >= before + 15, what="orders placed while Redis is down")
        placed_during.append(len(wave.orders) - before)
        await asyncio.sleep(1.0)
        stop.set()
        await watcher
        await asyncio.to_thread(cluster.start_redis_again)

    await run_wave(wave, fault)
    assert placed_during and placed_during[0] >= 15
    assert seen, "no /health answer while Redis was down"
    assert {code for code, _ in seen} == {200}
    assert {(b["status"], b["database"], b["redis"]) for _, b in seen} == {("degraded", "ok", "down")}
    async with httpx.AsyncClient(base_url=str(cluster.web(0).url), timeout=5) as client:

        async def healthy() -> bool:
            r = await client.get("/health")
            return r.status_code == 200 and r.json()["status"] == "ok"

        await until(healthy, what="/health to be ok once Redis is back")


async def test_postgres_crash_and_restart_mid_flow(cluster: Cluster, world: World) -> None:
    wave = Wave(cluster, world, "restart-pg", customers=CUSTOMERS)
    seen: list[tuple[int, dict[str, object]]] = []

    async def fault() -> None:
        await until(lambda: len(wave.orders) >= 20, what="orders to be placed")
        stop = asyncio.Event()
        cluster.kill_postgres()  # a crash: kill -9 of the postmaster; crash recovery at the restart
        watcher = asyncio.create_task(health_while(cluster, 0, stop, seen))
        await until(lambda: len(seen) >= 3, what="/health answers while PostgreSQL is down")
        stop.set()
        await watcher
        await asyncio.to_thread(cluster.start_postgres_again)

    await run_wave(wave, fault)
    assert seen
    assert {code for code, _ in seen} == {503}
    assert all(body["database"] == "down" for _, body in seen)
