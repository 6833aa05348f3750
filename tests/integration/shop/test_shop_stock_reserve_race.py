"""The one-statement reservation under interleavings: a reservation that waits on another's locks decides
on the rows as the other left them (all lines or none), and overlapping multi-line orders never oversell."""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.db import database_url, unit_of_work
from shop.errors import OutOfStock
from shop.stock.seam import reserve_stock
from tests.integration.orders.race import LOCK_WAITERS
from tests.integration.shop.conftest import count, list_at, make_product, make_store, movement_sums, stock_of


@pytest.fixture
async def pool():  # type: ignore[no-untyped-def]
    engine = create_async_engine(database_url(), pool_size=60, max_overflow=0, pool_timeout=60)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def waiting_on_a_lock(pool) -> None:  # type: ignore[no-untyped-def]
    """Until some backend waits for a row lock (the second reservation has reached the stock rows)."""
    for _ in range(500):
        async with pool() as s:
            if await s.scalar(text(LOCK_WAITERS)):
                return
        await asyncio.sleep(0.01)
    raise AssertionError("the second reservation never waited on the first's lock")


@pytest.mark.parametrize("first_commits", [True, False])
async def test_a_waiting_reservation_sees_what_the_first_left(clean: None, pool, first_commits: bool) -> None:  # type: ignore[no-untyped-def]
    store = await make_store()
    x, y = (await make_product(skus=[("X", 100), ("Y", 200)])).sku_ids
    await list_at(store, x, on_hand=3)
    await list_at(store, y, on_hand=1)
    async with pool() as first, first.begin():
        await reserve_stock(first, store, [(x, 1), (y, 1)], "order:first")

        async def second() -> bool:
            async with pool() as s, s.begin():
                try:
                    await reserve_stock(s, store, [(x, 2), (y, 1)], "order:second")
                    return True
                except OutOfStock as exc:
                    assert exc.short == [{"sku_id": y, "wanted": 1, "available": 0}]
                    return False

        task = asyncio.create_task(second())
        await waiting_on_a_lock(pool)
        if not first_commits:
            await first.rollback()
    reserved = await task
    assert reserved is (not first_commits)
    assert await stock_of(store, x) == (3, 2 if not first_commits else 1)
    assert await stock_of(store, y) == (1, 1)
    # All or none: the refused order left no level change, movement, line or reservation behind.
    assert await count("stock_reservations") == 1
    assert await count("stock_reservation_lines") == 2
    for sku in (x, y):
        assert await movement_sums(store, sku) == await stock_of(store, sku)


async def test_overlapping_multi_line_orders_never_oversell_any_line(clean: None, pool) -> None:  # type: ignore[no-untyped-def]
    store = await make_store()
    skus = (await make_product(skus=[("A", 100), ("B", 200), ("C", 300), ("D", 400)])).sku_ids
    units = {skus[0]: 7, skus[1]: 11, skus[2]: 5, skus[3]: 40}
    for sku, n in units.items():
        await list_at(store, sku, on_hand=n)
    rng = random.Random(11)
    orders = [{k: rng.randint(1, 3) for k in rng.sample(skus, k=rng.randint(1, 4))} for _ in range(150)]

    async def place(i: int) -> dict[int, int] | None:
        async with pool() as s, s.begin():
            try:
                await reserve_stock(s, store, list(orders[i].items()), f"order:{i}")
                return orders[i]
            except OutOfStock:
                return None

    done = [o for o in await asyncio.wait_for(asyncio.gather(*(place(i) for i in range(150))), 60) if o]
    assert done  # some orders got through
    for sku, n in units.items():
        held = sum(o.get(sku, 0) for o in done)
        assert held <= n
        assert await stock_of(store, sku) == (n, held)
        assert await movement_sums(store, sku) == (n, held)
    assert await count("stock_reservations") == len(done)
    assert await count("stock_reservation_lines") == sum(len(o) for o in done)
    async with unit_of_work() as s:
        assert await s.scalar(text("SELECT count(*) FROM stock_levels WHERE reserved > on_hand")) == 0
