"""The stock seam: no oversell under concurrency, balanced movement log, idempotency by ref, transfers, returns."""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.db import database_url, unit_of_work
from shop.errors import OutOfStock, RefReused, ReservationNotFound, ReservationStateError, ReturnExceedsSold
from shop.stock.seam import (
    StockLine,
    commit_stock,
    get_reservation,
    release_stock,
    reserve_stock,
    return_stock,
    transfer_reservation,
)
from tests.integration.shop.conftest import count, list_at, make_product, make_store, movement_sums, stock_of


@pytest.fixture
async def big_pool():  # type: ignore[no-untyped-def]
    engine = create_async_engine(database_url(), pool_size=60, max_overflow=0, pool_timeout=60)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def assert_log_balances(store_id: int, sku_id: int) -> None:
    assert await movement_sums(store_id, sku_id) == await stock_of(store_id, sku_id)


async def test_200_concurrent_reservations_on_10_units_sell_exactly_10(clean: None, big_pool) -> None:  # type: ignore[no-untyped-def]
    store = await make_store()
    sku = (await make_product()).sku_ids[0]
    await list_at(store, sku, on_hand=10)

    async def attempt(i: int) -> bool:
        async with big_pool() as s, s.begin():
            try:
                await reserve_stock(s, store, [(sku, 1)], f"order:{i}")
                return True
            except OutOfStock:
                return False

    results = await asyncio.gather(*(attempt(i) for i in range(200)))
    assert sum(results) == 10
    assert await stock_of(store, sku) == (10, 10)
    assert await count("stock_reservations", "status = 'held'") == 10
    assert await count("stock_reservation_lines") == 10
    assert await count("stock_movements", "kind = 'reserve'") == 10
    await assert_log_balances(store, sku)


async def test_crossing_multi_sku_orders_and_transfers_never_deadlock_or_oversell(clean: None, big_pool) -> None:  # type: ignore[no-untyped-def]
    a, b = await make_store("A"), await make_store("B", lat=31.24)
    skus = (await make_product(skus=[("X", 100), ("Y", 200), ("Z", 300)])).sku_ids
    for store in (a, b):
        for sku in skus:
            await list_at(store, sku, on_hand=30)
    rng = random.Random(7)

    async def order(i: int) -> None:
        lines = rng.sample(skus, k=3)  # the caller's line order varies; locks must not
        async with big_pool() as s, s.begin():
            try:
                await reserve_stock(s, a, [(k, 1) for k in lines], f"o{i}")
            except OutOfStock:
                return
        if i % 3 == 0:
            async with big_pool() as s, s.begin():
                try:
                    await transfer_reservation(s, f"o{i}", b)
                except OutOfStock:
                    pass

    await asyncio.wait_for(asyncio.gather(*(order(i) for i in range(120))), timeout=60)
    held_a = await count("stock_reservations", "store_id = :s", s=a)
    held_b = await count("stock_reservations", "store_id = :s", s=b)
    assert held_a <= 30 and held_b <= 30 and held_a + held_b >= 30
    assert held_b > 0
    for store, held in ((a, held_a), (b, held_b)):
        for sku in skus:
            on_hand, reserved = await stock_of(store, sku)
            assert (on_hand, reserved) == (30, held)
            await assert_log_balances(store, sku)


async def test_out_of_stock_names_what_is_short_and_writes_nothing(clean: None) -> None:
    store = await make_store()
    x, y = (await make_product(skus=[("X", 100), ("Y", 200)])).sku_ids
    await list_at(store, x, on_hand=5)
    await list_at(store, y, on_hand=1)
    async with unit_of_work() as s:
        with pytest.raises(OutOfStock) as exc:
            await reserve_stock(s, store, [(x, 2), (y, 3)], "order:1")
        assert exc.value.short == [{"sku_id": y, "wanted": 3, "available": 1}]
        # The same transaction stays usable and holds nothing of the failed attempt.
        await reserve_stock(s, store, [(x, 2)], "order:2")
    assert await get_reservation_status("order:1") is None
    assert await stock_of(store, x) == (5, 2)
    assert await stock_of(store, y) == (1, 0)
    assert await count("stock_movements", "kind = 'reserve'") == 1


async def get_reservation_status(ref: str) -> str | None:
    async with unit_of_work() as s:
        r = await get_reservation(s, ref)
        return r.status if r else None


async def test_reserve_is_idempotent_by_ref(clean: None) -> None:
    store = await make_store()
    sku = (await make_product()).sku_ids[0]
    await list_at(store, sku, on_hand=5)
    async with unit_of_work() as s:
        first = await reserve_stock(s, store, [(sku, 1), (sku, 1)], "order:7")  # duplicate lines are summed
    async with unit_of_work() as s:
        again = await reserve_stock(s, store, [{"sku_id": sku, "qty": 2}], "order:7")
    assert first.created and not again.created
    assert first.lines == again.lines == (StockLine(sku, 2),)
    assert await stock_of(store, sku) == (5, 2)
    assert await count("stock_movements", "kind = 'reserve'") == 1
    async with unit_of_work() as s:
        with pytest.raises(RefReused):
            await reserve_stock(s, store, [(sku, 3)], "order:7")


async def test_concurrent_calls_with_one_ref_reserve_once(clean: None, big_pool) -> None:  # type: ignore[no-untyped-def]
    store = await make_store()
    sku = (await make_product()).sku_ids[0]
    await list_at(store, sku, on_hand=50)

    async def call() -> bool:
        async with big_pool() as s, s.begin():
            return (await reserve_stock(s, store, [(sku, 3)], "order:same")).created

    created = await asyncio.gather(*(call() for _ in range(25)))
    assert sum(created) == 1
    assert await stock_of(store, sku) == (50, 3)
    await assert_log_balances(store, sku)


async def test_release_commit_return_lifecycle(clean: None) -> None:
    store = await make_store()
    x, y = (await make_product(skus=[("X", 100), ("Y", 200)])).sku_ids
    await list_at(store, x, on_hand=10)
    await list_at(store, y, on_hand=10)
    async with unit_of_work() as s:
        await reserve_stock(s, store, [(x, 3), (y, 2)], "order:1")
        await reserve_stock(s, store, [(x, 1)], "order:2")
    async with unit_of_work() as s:
        assert (await release_stock(s, "order:2")).status == "released"
        assert (await release_stock(s, "order:2")).status == "released"  # twice: no-op
    assert await stock_of(store, x) == (10, 3)
    async with unit_of_work() as s:
        with pytest.raises(ReservationStateError):
            await commit_stock(s, "order:2")
        await commit_stock(s, "order:1")
        await commit_stock(s, "order:1")  # twice: no-op
    assert await stock_of(store, x) == (7, 0)
    assert await stock_of(store, y) == (8, 0)
    async with unit_of_work() as s:
        with pytest.raises(ReservationStateError):
            await release_stock(s, "order:1")
        r = await return_stock(s, "order:1", [(x, 1)])
        assert r.returned == (StockLine(x, 1),)
        await return_stock(s, "order:1", [(x, 1)])  # the same return again: no-op
    assert await stock_of(store, x) == (8, 0)
    async with unit_of_work() as s:
        await return_stock(s, "order:1", [(x, 1)], return_ref="refund:2")  # a second, distinct partial return
        with pytest.raises(ReturnExceedsSold):
            await return_stock(s, "order:1", [(x, 2)], return_ref="refund:3")
        with pytest.raises(ReturnExceedsSold):
            await return_stock(s, "order:1", [(y + 1000, 1)], return_ref="refund:4")
        r = await return_stock(s, "order:1", None, return_ref="refund:5")  # everything still out
    assert r.returned == (StockLine(x, 3), StockLine(y, 2))
    assert await stock_of(store, x) == (10, 0)
    assert await stock_of(store, y) == (10, 0)
    for sku in (x, y):
        await assert_log_balances(store, sku)
    async with unit_of_work() as s:
        with pytest.raises(ReservationNotFound):
            await release_stock(s, "order:nope")


async def test_transfer_reservation_moves_held_units_or_fails_cleanly(clean: None) -> None:
    a, b, c = await make_store("A"), await make_store("B", lat=31.25), await make_store("C", lat=31.26)
    sku = (await make_product()).sku_ids[0]
    await list_at(a, sku, on_hand=5)
    await list_at(b, sku, on_hand=2)
    await list_at(c, sku, on_hand=1)
    async with unit_of_work() as s:
        await reserve_stock(s, a, [(sku, 2)], "urgent:1")
    async with unit_of_work() as s:
        with pytest.raises(OutOfStock):
            await transfer_reservation(s, "urgent:1", c)  # C has only 1
    assert (await stock_of(a, sku), await stock_of(c, sku)) == ((5, 2), (1, 0))
    async with unit_of_work() as s:
        moved = await transfer_reservation(s, "urgent:1", b)
        assert moved.store_id == b
        assert (await transfer_reservation(s, "urgent:1", b)).store_id == b  # again: no-op
    assert (await stock_of(a, sku), await stock_of(b, sku)) == ((5, 0), (2, 2))
    async with unit_of_work() as s:
        await commit_stock(s, "urgent:1")
        with pytest.raises(ReservationStateError):
            await transfer_reservation(s, "urgent:1", a)
    assert await stock_of(b, sku) == (0, 0)
    for store in (a, b, c):
        await assert_log_balances(store, sku)


async def test_bad_lines_are_refused(clean: None) -> None:
    from core.errors import InvalidInput, NotFound

    store = await make_store()
    sku = (await make_product()).sku_ids[0]
    async with unit_of_work() as s:
        for lines in ([], [(sku, 0)], [(sku, -1)], [(sku, 1.5)], [(sku, True)]):
            with pytest.raises(InvalidInput):
                await reserve_stock(s, store, lines, "order:x")
        with pytest.raises(NotFound):
            await reserve_stock(s, 999_999, [(sku, 1)], "order:y")
    assert await count("stock_reservations") == 0


async def test_skus_without_stock_rows_are_out_of_stock_and_leave_no_claim(clean: None) -> None:
    """No stock row for any line: the claim must still be found and undone (the one-statement claim and
    lock returns no row then), and the caller's transaction stays usable."""
    store, other = await make_store("S1"), await make_store("S2")
    sku, bare = (await make_product(skus=[("S", 100), ("B", 100)])).sku_ids
    await list_at(store, sku, on_hand=4)
    async with unit_of_work() as s:
        with pytest.raises(OutOfStock) as refused:
            await reserve_stock(s, store, [(bare, 1)], "order:bare")
        assert refused.value.short == [{"sku_id": bare, "wanted": 1, "available": 0}]
        assert await s.scalar(text("SELECT count(*) FROM stock_reservations WHERE ref = 'order:bare'")) == 0
        made = await reserve_stock(s, store, [(sku, 1)], "order:bare")  # same transaction, same ref: fine
    assert made.created and await stock_of(store, sku) == (4, 1)
    async with unit_of_work() as s:  # the same ref again where none of its SKUs is stocked: the first one
        again = await reserve_stock(s, other, [(sku, 1)], "order:bare")
    assert not again.created and again.store_id == store and again.lines == (StockLine(sku, 1),)
    assert await count("stock_reservations") == 1
