"""Under concurrency: the last units sell exactly once, and an Idempotency-Key places exactly one order."""

from __future__ import annotations

import asyncio

import pytest
from httpx import AsyncClient

from core.db import get_engine, unit_of_work
from orders.checkout import CheckoutRequest, LineIn
from orders.errors import IdempotencyKeyReused
from orders.place_order import place_order
from shop.errors import OutOfStock
from tests.integration.orders.factories import (
    count,
    customer_headers,
    level,
    make_customer,
    movements_balance,
    world,
)


async def test_200_concurrent_orders_for_the_last_10_units(clean: None) -> None:
    w = await world(stock=10)
    async with unit_of_work() as s:
        customers = [await make_customer(s, w.account_id) for _ in range(20)]
    pool = get_engine().pool
    assert pool.size() + pool._max_overflow >= 50  # type: ignore[attr-defined]

    async def attempt(i: int) -> str:
        req = CheckoutRequest(store_id=w.store_id, kind="pickup", lines=[LineIn(w.sku_id, 1)])
        try:
            async with unit_of_work() as s:
                await place_order(s, customers[i % 20], req, f"flash-{i:04d}")
            return "ok"
        except OutOfStock:
            return "out"

    lowest: list[int] = []

    async def watch() -> None:
        while True:
            on_hand, reserved = await level(w.store_id, w.sku_id)
            lowest.append(on_hand - reserved)
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    results = await asyncio.gather(*(attempt(i) for i in range(200)))
    watcher.cancel()
    assert results.count("ok") == 10
    assert results.count("out") == 190
    assert await count("SELECT count(*) FROM orders") == 10
    assert await count("SELECT count(*) FROM stock_reservations WHERE status = 'held'") == 10
    assert await count("SELECT count(*) FROM stock_reservations") == 10  # the losers left nothing behind
    assert await level(w.store_id, w.sku_id) == (10, 10)
    assert min(lowest) >= 0
    assert await movements_balance(w.store_id, w.sku_id)
    assert await count("SELECT count(*) FROM jobs WHERE kind = 'orders.payment_deadline'") == 10


async def test_replay_with_the_same_body_returns_the_same_order(client: AsyncClient) -> None:
    w = await world(stock=5)
    body = {"store_id": w.store_id, "kind": "pickup", "lines": [{"sku_id": w.sku_id, "qty": 2}]}
    headers = {**customer_headers(w.customer_id), "Idempotency-Key": "checkout-abc-123"}
    first = await client.post("/api/orders", json=body, headers=headers)
    # same body, other spacing and key order: still the same request
    again = await client.post(
        "/api/orders",
        content=b'{ "lines": [ {"qty": 2, "sku_id": %d} ], "kind": "pickup", "store_id": %d }' % (w.sku_id, w.store_id),
        headers={**headers, "content-type": "application/json"},
    )
    assert first.status_code == again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    a, b = first.json(), again.json()
    assert b["replayed"] is True and a["replayed"] is False
    assert (a["id"], a["number"], a["total_fen"]) == (b["id"], b["number"], b["total_fen"])
    assert await count("SELECT count(*) FROM orders") == 1
    assert await level(w.store_id, w.sku_id) == (5, 2)
    # a different body under the same key: refused, nothing more reserved
    other = await client.post("/api/orders", json={**body, "lines": [{"sku_id": w.sku_id, "qty": 3}]}, headers=headers)
    assert other.status_code == 409
    assert "checkout-abc-123" in other.json()["detail"] and a["number"] in other.json()["detail"]
    assert await count("SELECT count(*) FROM orders") == 1
    assert await level(w.store_id, w.sku_id) == (5, 2)
    # another customer may use the same key string: keys are per customer
    async with unit_of_work() as s:
        someone = await make_customer(s, w.account_id)
    r = await client.post(
        "/api/orders", json=body, headers={**customer_headers(someone), "Idempotency-Key": "checkout-abc-123"}
    )
    assert r.status_code == 201 and r.json()["id"] != a["id"]


async def test_concurrent_retries_with_one_key_place_one_order(clean: None) -> None:
    w = await world(stock=50)
    req = CheckoutRequest(store_id=w.store_id, kind="pickup", lines=[LineIn(w.sku_id, 1)])

    async def attempt() -> tuple[str, bool]:
        async with unit_of_work() as s:
            placed = await place_order(s, w.customer_id, req, "same-key-for-all")
        return placed.public_id, placed.created

    results = await asyncio.gather(*(attempt() for _ in range(30)))
    assert len({pid for pid, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert await count("SELECT count(*) FROM orders") == 1
    assert await count("SELECT count(*) FROM stock_reservations") == 1
    assert await level(w.store_id, w.sku_id) == (50, 1)
    with pytest.raises(IdempotencyKeyReused):
        async with unit_of_work() as s:
            await place_order(
                s, w.customer_id, CheckoutRequest(w.store_id, "pickup", [LineIn(w.sku_id, 2)]), "same-key-for-all"
            )


async def test_a_retry_that_sees_sold_out_while_its_original_runs_gets_that_order(clean: None) -> None:
    """While the original is between its read and its reservation, another customer takes the last
    unit and gives it back; the retry, reading in between, sees "sold out". It must not answer so: it
    waits for its original and answers with that order."""
    from orders.cancel_order import cancel_order
    from tests.integration.orders.race import RunBefore, start_blocked

    w = await world(stock=1)
    async with unit_of_work() as s:
        other = await make_customer(s, w.account_id)
    req = CheckoutRequest(store_id=w.store_id, kind="pickup", lines=[LineIn(w.sku_id, 1)])

    async def place(customer: int, key: str) -> object:
        async with unit_of_work() as s:
            return await place_order(s, customer, req, key)

    retries: list[asyncio.Task] = []

    async def meanwhile(*_: object, **__: object) -> None:
        taken = await place(other, "other-customer-1")
        assert await level(w.store_id, w.sku_id) == (1, 1)
        retries.append(await start_blocked(lambda: place(w.customer_id, "last-unit-retry")))
        async with unit_of_work() as s:
            await cancel_order(s, taken.order_id, "customer:x", "changed my mind")  # type: ignore[attr-defined]

    with RunBefore("orders.place_order.reserve_stock", meanwhile):
        original = await place(w.customer_id, "last-unit-retry")
    replay = await retries[0]
    assert original.created and not replay.created  # type: ignore[attr-defined]
    assert replay.public_id == original.public_id  # type: ignore[attr-defined]
    assert await count("SELECT count(*) FROM orders WHERE status = 'created'") == 1
    assert await level(w.store_id, w.sku_id) == (1, 1)
    assert await movements_balance(w.store_id, w.sku_id)
