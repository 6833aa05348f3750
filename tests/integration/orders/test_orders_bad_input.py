"""Bad checkouts: a 4xx with a message a person can act on, and nothing ordered, reserved or locked."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from core.db import unit_of_work
from tests.integration.orders.factories import (
    World,
    count,
    customer_headers,
    list_sku,
    make_address,
    make_sku,
    make_store,
    north,
    receive_stock,
    world,
)


async def nothing_happened(w: World) -> None:
    assert await count("SELECT count(*) FROM orders") == 0
    assert await count("SELECT count(*) FROM order_lines") == 0
    assert await count("SELECT count(*) FROM stock_reservations") == 0
    assert await count("SELECT count(*) FROM stock_movements WHERE kind <> 'receive'") == 0
    assert await count("SELECT coalesce(sum(reserved), 0) FROM stock_levels") == 0
    assert await count("SELECT count(*) FROM jobs") == 0


async def post(client: AsyncClient, w: World, body: dict[str, Any], key: str | None = "bad-input-key-1") -> Any:
    headers = customer_headers(w.customer_id)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post("/api/orders", json=body, headers=headers)


async def expect(client: AsyncClient, w: World, body: dict[str, Any], status: int, words: str, **kw: Any) -> None:
    r = await post(client, w, body, **kw)
    assert r.status_code == status, r.text
    data = r.json()
    assert data["status_code"] == status
    assert words in data["detail"], data["detail"]
    await nothing_happened(w)


def pickup(w: World, *lines: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"store_id": w.store_id, "kind": "pickup", "lines": list(lines) or [{"sku_id": w.sku_id, "qty": 1}], **more}


async def test_unknown_and_unlisted_skus(client: AsyncClient) -> None:
    w = await world()
    await expect(client, w, pickup(w, {"sku_id": 987654, "qty": 1}), 400, "SKU 987654 does not exist")
    async with unit_of_work() as s:
        unlisted = await make_sku(s, title="下架商品")
        await list_sku(s, w.store_id, unlisted, listed=False, stock=5)
        elsewhere = await make_sku(s, title="别店商品")  # no listing at this store at all
    await expect(client, w, pickup(w, {"sku_id": unlisted, "qty": 1}), 400, "下架商品")
    await expect(
        client,
        w,
        pickup(w, {"sku_id": w.sku_id, "qty": 1}, {"sku_id": elsewhere, "qty": 1}),
        400,
        "is not sold at store",
    )


@pytest.mark.parametrize("qty", [0, -1, 100, 10**9])
async def test_quantities_must_be_sensible(client: AsyncClient, qty: int) -> None:
    w = await world()
    await expect(client, w, pickup(w, {"sku_id": w.sku_id, "qty": qty}), 400, "must be between 1 and 99")


async def test_malformed_bodies_are_400(client: AsyncClient) -> None:
    w = await world()
    for body in (
        pickup(w, {"sku_id": w.sku_id, "qty": "three"}),
        pickup(w, {"sku_id": w.sku_id, "qty": 1.5}),
        {**pickup(w), "kind": "teleport"},
        {**pickup(w), "surprise": 1},
        pickup(w, {"sku_id": w.sku_id, "qty": 1}, {"sku_id": w.sku_id, "qty": 2}),
        {**pickup(w), "lines": []},
    ):
        r = await post(client, w, body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["detail"]
    await nothing_happened(w)


async def test_idempotency_key_is_required(client: AsyncClient) -> None:
    w = await world()
    await expect(client, w, pickup(w), 400, "Idempotency-Key header is required", key=None)
    await expect(client, w, pickup(w), 400, "Idempotency-Key header is required", key="short")


async def test_address_out_of_the_store_radius(client: AsyncClient) -> None:
    w = await world(radius_m=3000)
    async with unit_of_work() as s:
        lat, lng = north(4200)
        far = await make_address(s, w.customer_id, lat, lng)
    body = {"store_id": w.store_id, "kind": "delivery", "lines": [{"sku_id": w.sku_id, "qty": 1}], "address_id": far}
    await expect(client, w, body, 422, "4.2 km from store")
    body["address_id"] = 424242  # not one of mine
    await expect(client, w, body, 400, "not one of your saved addresses")


async def test_urgent_when_no_store_can_serve(client: AsyncClient) -> None:
    async with unit_of_work() as s:
        from tests.integration.orders.factories import make_account, make_customer

        account = await make_account(s)
        customer = await make_customer(s, account)
        store = await make_store(s, partner=False)  # sells, but takes no dispatched orders
        sku = await make_sku(s)
        await list_sku(s, store, sku, stock=10)
    w = World(account, store, customer, sku, 1000)
    lat, lng = north(500)
    body = {
        "store_id": store,
        "kind": "urgent",
        "lines": [{"sku_id": sku, "qty": 1}],
        "address": {"contact_name": "王五", "phone": "13700000000", "address": "外滩", "lat": lat, "lng": lng},
    }
    await expect(client, w, body, 422, "no store can deliver to this address within the hour")


async def test_stale_price_and_changed_total(client: AsyncClient) -> None:
    w = await world(price_fen=1000)
    r = await post(client, w, pickup(w, {"sku_id": w.sku_id, "qty": 2, "unit_price_fen": 900}))
    assert r.status_code == 409
    assert r.json()["extra"]["changes"] == [{"sku_id": w.sku_id, "price_fen": 1000, "seen_fen": 900}]
    assert "review the new quote" in r.json()["detail"]
    await expect(client, w, pickup(w, expected_total_fen=1500), 409, "the order total is now 1000 fen")


async def test_prescription_is_required_for_prescription_items(client: AsyncClient) -> None:
    w = await world(prescription=True)
    await expect(client, w, pickup(w), 422, "need(s) a prescription")
    await expect(client, w, pickup(w, prescription_url="ftp://nope"), 400, "prescription_url must be an http(s) URL")


async def test_unknown_coupon_and_stored_value_are_refused(client: AsyncClient) -> None:
    w = await world()
    await expect(client, w, pickup(w, coupon_id=7), 404, "优惠券 7 不存在或不属于您")
    await expect(client, w, pickup(w, stored_value_fen=500), 422, "stored value is not available")


async def test_store_closed_paused_or_unknown(client: AsyncClient) -> None:
    w = await world()
    async with unit_of_work() as s:
        closed = await make_store(s, always_open=False)
        paused = await make_store(s, status="paused")
        for store in (closed, paused):
            await list_sku(s, store, w.sku_id, stock=5)
    await expect(client, w, {**pickup(w), "store_id": closed}, 422, "is closed now")
    await expect(client, w, {**pickup(w), "store_id": paused}, 422, "not taking orders")
    await expect(client, w, {**pickup(w), "store_id": 999_999}, 400, "store 999999 does not exist")


async def test_out_of_stock_reserves_none_of_the_lines(client: AsyncClient) -> None:
    w = await world(stock=10)
    async with unit_of_work() as s:
        scarce = await make_sku(s)
        await list_sku(s, w.store_id, scarce, stock=0)
        await receive_stock(s, w.store_id, scarce, 1)
    r = await post(client, w, pickup(w, {"sku_id": w.sku_id, "qty": 5}, {"sku_id": scarce, "qty": 2}))
    assert r.status_code == 409
    assert r.json()["extra"]["short"] == [{"sku_id": scarce, "wanted": 2, "available": 1}]
    await nothing_happened(w)
    async with unit_of_work() as s:
        levels = (await s.execute(text("SELECT sku_id, on_hand, reserved FROM stock_levels ORDER BY sku_id"))).all()
    assert [(x.on_hand, x.reserved) for x in levels] == [(10, 0), (1, 0)]
