"""place_order and quote: amounts in fen, stock held through the seam, the deadline job, events, the cart path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from core import clock, events
from core.db import unit_of_work
from orders import pricing
from orders.cart import set_cart_item
from orders.checkout import AddressIn, CheckoutRequest, LineIn
from orders.place_order import PAYMENT_DEADLINE_JOB, place_order
from orders.quote import quote
from tests.integration.orders.factories import (
    count,
    level,
    list_sku,
    make_address,
    make_sku,
    movements_balance,
    north,
    world,
)


@pytest.fixture
def published():  # type: ignore[no-untyped-def]
    seen: list[events.Event] = []

    async def record(session, event) -> None:  # type: ignore[no-untyped-def]
        seen.append(event)

    kinds = (events.OrderPlaced, events.OrderPaid, events.OrderReadyForFulfilment, events.OrderCancelled)
    for k in kinds:
        events.subscribe(k, record)
    yield seen
    for k in kinds:
        events._handlers[k].remove(record)


async def test_pickup_order_holds_stock_and_schedules_the_deadline(clean: None, published: list) -> None:
    w = await world(price_fen=1250, stock=20)
    req = CheckoutRequest(store_id=w.store_id, kind="pickup", lines=[LineIn(w.sku_id, 3, 1250)])
    async with unit_of_work() as s:
        placed = await place_order(s, w.customer_id, req, "key-00000001")
    assert placed.created and placed.status == "created"
    assert placed.total_fen == placed.cash_due_fen == 3750
    assert len(placed.number) == 13 and placed.number.isdigit()
    assert len(placed.public_id) == 24
    assert await level(w.store_id, w.sku_id) == (20, 3)
    assert await movements_balance(w.store_id, w.sku_id)
    async with unit_of_work() as s:
        o = (await s.execute(text("SELECT * FROM orders WHERE id = :id"), {"id": placed.order_id})).one()
        lines = (await s.execute(text("SELECT * FROM order_lines WHERE order_id = :id"), {"id": placed.order_id})).all()
        job = (
            await s.execute(text("SELECT run_at, payload FROM jobs WHERE kind = :k"), {"k": PAYMENT_DEADLINE_JOB})
        ).one()
        ev = (await s.execute(text("SELECT from_status, to_status, actor FROM order_events"))).all()
    assert (o.status, o.kind, o.items_fen, o.discount_fen, o.delivery_fee_fen, o.total_fen) == (
        "created",
        "pickup",
        3750,
        0,
        0,
        3750,
    )
    assert [(x.sku_id, x.qty, x.unit_price_fen, x.line_fen) for x in lines] == [(w.sku_id, 3, 1250, 3750)]
    assert job.payload == {"order_id": placed.order_id}
    assert abs((job.run_at - o.placed_at) - timedelta(minutes=15)) < timedelta(seconds=1)
    assert o.payment_deadline_at == job.run_at
    assert ev == [(None, "created", f"customer:{w.customer_id}")]
    assert [type(e).__name__ for e in published] == ["OrderPlaced"]


async def test_store_price_override_and_delivery_fee_band(clean: None) -> None:
    w = await world(price_fen=1000)
    async with unit_of_work() as s:
        await list_sku(s, w.store_id, w.sku_id, price_fen=880, stock=0)
        lat, lng = north(2500)
        address = await make_address(s, w.customer_id, lat, lng)
    req = CheckoutRequest(store_id=w.store_id, kind="delivery", lines=[LineIn(w.sku_id, 2)], address_id=address)
    async with unit_of_work() as s:
        q = await quote(s, w.customer_id, req)
    assert q.lines[0].unit_price_fen == 880
    assert q.totals.items_fen == 1760
    assert q.totals.delivery_fee_fen == 500  # 1–3 km band
    assert q.totals.total_fen == 2260
    assert 2400 < (q.distance_m or 0) < 2600
    assert q.promise.minutes == 30 + 6 * 3
    async with unit_of_work() as s:
        placed = await place_order(s, w.customer_id, req, "key-delivery-1")
    async with unit_of_work() as s:
        o = (await s.execute(text("SELECT * FROM orders WHERE id = :id"), {"id": placed.order_id})).one()
    assert (o.items_fen, o.delivery_fee_fen, o.total_fen, o.contact_name) == (1760, 500, 2260, "张三")
    assert o.address_text == "人民大道 1 号 3 楼"


async def test_urgent_order_has_a_promise_within_the_hour_and_a_surcharge(clean: None) -> None:
    w = await world()
    lat, lng = north(800)
    req = CheckoutRequest(
        store_id=w.store_id,
        kind="urgent",
        lines=[LineIn(w.sku_id, 1)],
        address=AddressIn("李四", "13900000000", "南京东路 100 号", lat, lng),
    )
    async with unit_of_work() as s:
        q = await quote(s, w.customer_id, req)
    assert q.totals.urgent_fee_fen == pricing.URGENT_SURCHARGE_FEN
    assert q.totals.delivery_fee_fen == 300
    assert q.totals.total_fen == 1000 + 300 + pricing.URGENT_SURCHARGE_FEN
    assert q.promise.minutes <= 60 and q.promise.store_id == w.store_id
    assert q.promise.promise_at <= clock.now() + timedelta(minutes=60)


async def test_ordering_the_cart_clears_it_and_uses_the_prices_seen(clean: None) -> None:
    w = await world(price_fen=500)
    async with unit_of_work() as s:
        other = await make_sku(s, price_fen=300)
        await list_sku(s, w.store_id, other, stock=5)
        await set_cart_item(s, w.customer_id, w.store_id, w.sku_id, 2)
        await set_cart_item(s, w.customer_id, w.store_id, other, 1)
    async with unit_of_work() as s:
        placed = await place_order(s, w.customer_id, CheckoutRequest(w.store_id, "pickup"), "cart-order-1")
    assert placed.total_fen == 1300
    assert await count("SELECT count(*) FROM cart_lines") == 0
    assert await level(w.store_id, other) == (5, 1)


async def test_a_changed_price_refuses_the_cart_order_and_keeps_the_cart(clean: None) -> None:
    from orders.errors import PriceChanged

    w = await world(price_fen=500)
    async with unit_of_work() as s:
        await set_cart_item(s, w.customer_id, w.store_id, w.sku_id, 2)
        await list_sku(s, w.store_id, w.sku_id, price_fen=650, stock=0)
    with pytest.raises(PriceChanged, match="now 650 fen"):
        async with unit_of_work() as s:
            await place_order(s, w.customer_id, CheckoutRequest(w.store_id, "pickup"), "cart-order-2")
    assert await count("SELECT count(*) FROM cart_lines") == 1
    assert await count("SELECT count(*) FROM orders") == 0
    assert await level(w.store_id, w.sku_id) == (100, 0)


async def test_quote_flags_changed_prices_instead_of_refusing(clean: None) -> None:
    w = await world(price_fen=1000)
    async with unit_of_work() as s:
        q = await quote(s, w.customer_id, CheckoutRequest(w.store_id, "pickup", [LineIn(w.sku_id, 1, 900)]))
    assert q.lines[0].price_changed and q.stale == [{"sku_id": w.sku_id, "price_fen": 1000, "seen_fen": 900}]
    assert q.totals.total_fen == 1000
    assert await count("SELECT count(*) FROM orders") == 0
    assert await level(w.store_id, w.sku_id) == (100, 0)
