"""B4b: the dispatch decision (candidates from the Redis GEO mirror checked against PostgreSQL, then ring 1's
offers, timers and audit, committed) as a service call, over a generated city of 10,000 stores."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from typing import Any

from bench.common import log

STORES = 10_000
DECISIONS = 400
WARMUP = 30


def run() -> dict[str, Any]:
    from delivery.cli import _in_sim_process, scratch_database

    with scratch_database():
        return asyncio.run(_in_sim_process(_measure))


async def _measure() -> dict[str, Any]:
    from sqlalchemy import text

    from core import clock
    from core.db import unit_of_work
    from delivery.sim_world import SimParams, build_world, point
    from delivery.start_dispatch import start_dispatch
    from orders.checkout import AddressIn, CheckoutRequest, LineIn
    from orders.mark_paid import mark_paid
    from orders.place_order import place_order
    from shop.stores.nearest import nearest_stores

    rng = random.Random(4)
    params = SimParams(stores=STORES, orders=DECISIONS + WARMUP, decline=0, silent=0, seed=4)
    log(f"B4b: building a city of {STORES} stores")
    world = await build_world(params, rng)
    dispatch_ids: list[int] = []
    for n in range(DECISIONS + WARMUP):
        lat, lng = point(rng, params.city_km)
        async with unit_of_work() as s:
            [near] = await nearest_stores(s, lat, lng, limit=1, open_now=True, partner_only=True)
            req = CheckoutRequest(
                store_id=near.store_id,
                kind="urgent",
                lines=[LineIn(world.sku_id, 1)],
                address=AddressIn("基准", "13800000000", f"基准地址 {n}", lat, lng),
            )
            placed = await place_order(s, world.customer_id, req, f"b4b-order-{n:06d}")
        async with unit_of_work() as s:
            await mark_paid(s, placed.order_id, f"b4b-pay-{n}", clock.now())
            dispatch_ids.append(
                int(await s.scalar(text("SELECT id FROM dispatches WHERE order_id = :o"), {"o": placed.order_id}))
            )
    log(f"B4b: timing {DECISIONS} decisions (after {WARMUP} warm-up)")
    times: list[float] = []
    outcomes: dict[str, int] = {}
    for i, dispatch_id in enumerate(dispatch_ids):
        t0 = time.perf_counter()
        async with unit_of_work() as s:
            outcome = await start_dispatch(s, dispatch_id)
        elapsed = (time.perf_counter() - t0) * 1000
        if i >= WARMUP:
            times.append(elapsed)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    async with unit_of_work() as s:
        offers = int(await s.scalar(text("SELECT count(*) FROM dispatch_offers")) or 0)
    q = statistics.quantiles(times, n=100, method="inclusive")
    return {
        "stores": STORES,
        "decision_p50_ms": round(statistics.median(times), 2),
        "decision_p99_ms": round(q[98], 2),
        "decisions": len(times),
        "decision_max_ms": round(max(times), 2),
        "offers_per_decision": round(offers / len(dispatch_ids), 2),
        "decisions_offered": outcomes.get("offered", 0),
        "goal_p99_ms": 50,
    }
