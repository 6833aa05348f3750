"""A small city for dispatch tests: partner stores at known distances north of the customer, staff per store,
an optional HQ store, one SKU in stock everywhere; and urgent orders placed and paid through orders' services."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import text

from core import clock
from core.db import unit_of_work
from core.jobs import run_due_jobs
from orders.checkout import AddressIn, CheckoutRequest, LineIn
from orders.mark_paid import mark_paid
from orders.place_order import place_order
from shop.stores.mirror import rebuild_geo_index
from tests.integration.orders.factories import (
    BASE_LAT,
    BASE_LNG,
    list_sku,
    make_account,
    make_customer,
    make_sku,
    make_store,
    north,
    staff_user,
)

_keys = itertools.count(1)


@dataclass
class City:
    customer_id: int
    sku_id: int
    stores: list[int]  # nearest first; stores[0] sells the orders
    distances: list[int]
    hq: int | None = None
    staff: dict[int, tuple[int, dict[str, str]]] = field(default_factory=dict)  # store -> (user id, headers)
    hq_staff: tuple[int, dict[str, str]] | None = None
    admin: tuple[int, dict[str, str]] | None = None

    @property
    def origin(self) -> int:
        return self.stores[0]


async def build_city(
    distances: Sequence[int] = (300, 600, 900, 1200, 1500, 1800, 2100),
    *,
    stock: int | Sequence[int] = 20,
    capacity: int = 3,
    radius_m: int = 5000,
    hq_at: int | None = None,
    hq_stock: int = 50,
    price_fen: int = 1500,
) -> City:
    stocks = [stock] * len(distances) if isinstance(stock, int) else list(stock)
    async with unit_of_work() as s:
        account = await make_account(s)
        customer = await make_customer(s, account)
        sku = await make_sku(s, price_fen=price_fen, title="布洛芬缓释胶囊")
        stores = []
        for d, qty in zip(distances, stocks, strict=True):
            lat, lng = north(d)
            store = await make_store(s, lat=lat, lng=lng, radius_m=radius_m)
            await s.execute(text("UPDATE stores SET urgent_capacity = :c WHERE id = :s"), {"c": capacity, "s": store})
            await list_sku(s, store, sku, price_fen=price_fen, stock=qty)
            stores.append(store)
        hq = None
        if hq_at is not None:
            lat, lng = north(hq_at)
            hq = await make_store(s, lat=lat, lng=lng, radius_m=30000, partner=False, hq=True)
            await s.execute(text("UPDATE stores SET urgent_capacity = 50 WHERE id = :s"), {"s": hq})
            await list_sku(s, hq, sku, price_fen=price_fen, stock=hq_stock)
    city = City(customer, sku, stores, list(distances), hq)
    for i, store in enumerate(stores):
        city.staff[store] = await staff_user(f"staff{store}x{i}", stores=[store])
    if hq is not None:
        city.hq_staff = await staff_user(f"hqstaff{hq}", stores=[hq])
    city.admin = await staff_user(f"admin{customer}", role="admin")
    await rebuild_geo_index()  # the Redis fast path sees the city too
    return city


async def paid_urgent_order(city: City, qty: int = 1, *, start: bool = True) -> int:
    """Placed at the nearest store, paid, and (start=True) the dispatch's first decision taken."""
    req = CheckoutRequest(
        store_id=city.origin,
        kind="urgent",
        lines=[LineIn(city.sku_id, qty)],
        address=AddressIn("李四", "13900000000", "人民大道 200 号 3 楼", BASE_LAT, BASE_LNG),
    )
    async with unit_of_work() as s:
        placed = await place_order(s, city.customer_id, req, f"urgent-{next(_keys):06d}")
    async with unit_of_work() as s:
        assert (await mark_paid(s, placed.order_id, f"wx-{placed.order_id}", clock.now())).outcome == "paid"
    if start:
        await run_due_jobs()
    return placed.order_id


async def rows(sql: str, **params: object) -> list:  # type: ignore[type-arg]
    async with unit_of_work() as s:
        return list((await s.execute(text(sql), params)).all())


async def scalar(sql: str, **params: object) -> object:
    async with unit_of_work() as s:
        return await s.scalar(text(sql), params)


async def offers(order_id: int) -> list:  # type: ignore[type-arg]
    return await rows(
        "SELECT id, store_id, ring, status, deadline_at FROM dispatch_offers WHERE order_id = :o ORDER BY id",
        o=order_id,
    )


async def order_status(order_id: int) -> str:
    return str(await scalar("SELECT status FROM orders WHERE id = :o", o=order_id))


async def dispatch_row(order_id: int):  # type: ignore[no-untyped-def]
    return (await rows("SELECT * FROM dispatches WHERE order_id = :o", o=order_id))[0]


async def kinds(order_id: int) -> list[str]:
    return [r[0] for r in await rows("SELECT kind FROM dispatch_events WHERE order_id = :o ORDER BY id", o=order_id)]


async def public_id(order_id: int) -> str:
    return str(await scalar("SELECT public_id FROM orders WHERE id = :o", o=order_id))


async def handoff_code(order_id: int) -> str:
    return str(await scalar("SELECT handoff_code FROM orders WHERE id = :o", o=order_id))


__all__ = ["BASE_LAT", "BASE_LNG", "City", "build_city", "paid_urgent_order", "run_due_jobs"]


async def eventually(check, timeout: float = 15.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
