"""Coupons on orders: the quote's options and reasons, best coupon, one coupon one order under concurrency,
returned on cancel and on a full refund, free delivery, someone else's coupon."""

from __future__ import annotations

import asyncio

import pytest
from httpx import AsyncClient

from core import clock
from core.db import sessionmaker, unit_of_work
from orders.after_sales import decide_refund, request_refund
from orders.cancel_order import cancel_order
from orders.checkout import AddressIn, CheckoutRequest, LineIn
from orders.mark_paid import mark_paid
from orders.place_order import place_order
from orders.transition_order import transition
from shop.audit import SYSTEM
from shop.coupons.claim_coupon import claim_coupon
from shop.coupons.errors import CouponNotApplicable
from tests.integration.coupons.helpers import customers, rows, scalar, template
from tests.integration.orders.factories import customer_headers, north, world

pytestmark = pytest.mark.usefixtures("own_handlers")


async def _give(customer_id: int, template_id: int) -> int:
    async with unit_of_work() as s:
        return (await claim_coupon(s, customer_id, template_id)).coupon_id


async def _state(coupon_id: int) -> str:
    return str(await scalar("SELECT state FROM customer_coupons WHERE id = :i", i=coupon_id))


async def test_quote_lists_options_with_reasons_and_the_best_one(client: AsyncClient) -> None:
    w = await world(price_fen=1000)  # 3 × ¥10 = ¥30
    small = await _give(w.customer_id, await template(title="无门槛5元", off_fen=500))
    big = await _give(w.customer_id, await template(title="满20减8", kind="threshold", threshold_fen=2000, off_fen=800))
    far = await _give(
        w.customer_id, await template(title="满100减30", kind="threshold", threshold_fen=10000, off_fen=3000)
    )
    other_store = await _give(
        w.customer_id, await template(title="别家门店券", scope="stores", scope_ids=[w.store_id + 1000])
    )
    body = {"store_id": w.store_id, "kind": "pickup", "lines": [{"sku_id": w.sku_id, "qty": 3}]}
    me = customer_headers(w.customer_id)

    q = (await client.post("/api/orders/quote", json=body, headers=me)).json()
    options = {o["coupon_id"]: o for o in q["coupon_options"]}
    assert options[small] == {
        "coupon_id": small,
        "title": "无门槛5元",
        "applicable": True,
        "reason": None,
        "discount_fen": 500,
    }
    assert options[big]["applicable"] and options[big]["discount_fen"] == 800
    assert options[far] == {
        "coupon_id": far,
        "title": "满100减30",
        "applicable": False,
        "reason": "商品满¥100.00可用，还差¥70.00",
        "discount_fen": 0,
    }
    assert options[other_store]["reason"] == "该券仅限指定门店使用"
    assert q["best_coupon_id"] == big and q["discount_fen"] == 0 and q["coupon_id"] is None

    q = (await client.post("/api/orders/quote", json={**body, "best_coupon": True}, headers=me)).json()
    assert q["coupon_id"] == big and q["discount_fen"] == 800 and q["total_fen"] == 2200
    assert q["discounts"] == ["优惠券：满20减8"]

    r = await client.post("/api/orders/quote", json={**body, "coupon_id": far}, headers=me)
    assert r.status_code == 422 and r.json()["detail"] == "这张优惠券不能用于本订单：商品满¥100.00可用，还差¥70.00"

    r = await client.post(
        "/api/orders", json={**body, "coupon_id": far}, headers={**me, "Idempotency-Key": "far-key-1"}
    )
    assert r.status_code == 422
    assert await scalar("SELECT count(*) FROM orders") == 0 and await _state(far) == "available"


async def test_someone_elses_coupon_is_not_found_and_nothing_is_placed(client: AsyncClient) -> None:
    w = await world()
    other = (await customers(w.account_id, 1))[0]
    theirs = await _give(other, await template())
    body = {"store_id": w.store_id, "kind": "pickup", "lines": [{"sku_id": w.sku_id, "qty": 1}], "coupon_id": theirs}
    me = customer_headers(w.customer_id)
    r = await client.post("/api/orders/quote", json=body, headers=me)
    assert r.status_code == 404 and "不属于您" in r.json()["detail"]
    r = await client.post("/api/orders", json=body, headers={**me, "Idempotency-Key": "steal-key-1"})
    assert r.status_code == 404
    assert await scalar("SELECT count(*) FROM orders") == 0
    assert await scalar("SELECT reserved FROM stock_levels WHERE sku_id = :k", k=w.sku_id) == 0
    assert await _state(theirs) == "available"


async def test_one_coupon_on_two_concurrent_orders_exactly_one_wins(clean: None) -> None:
    w = await world(stock=50)
    coupon = await _give(w.customer_id, await template(off_fen=300))
    req = CheckoutRequest(store_id=w.store_id, kind="pickup", lines=[LineIn(w.sku_id, 1)], coupon_id=coupon)

    async def attempt(key: str) -> str:
        try:
            async with sessionmaker()() as s, s.begin():
                await place_order(s, w.customer_id, req, key)
            return "ok"
        except CouponNotApplicable:
            return "refused"

    for round_ in range(3):  # a few rounds: both interleavings get their chance
        results = await asyncio.gather(*(attempt(f"twin-key-{round_}-{i}") for i in range(8)))
        assert results.count("ok") == (1 if round_ == 0 else 0)
    assert await scalar("SELECT count(*) FROM orders") == 1
    order = (await rows("SELECT id, coupon_id, discount_fen FROM orders"))[0]
    assert (order.coupon_id, order.discount_fen) == (coupon, 300)
    assert await scalar("SELECT reserved FROM stock_levels WHERE sku_id = :k", k=w.sku_id) == 1  # losers left none
    c = (await rows("SELECT state, order_id FROM customer_coupons WHERE id = :i", i=coupon))[0]
    assert (c.state, c.order_id) == ("locked", order.id)


async def test_cancel_returns_the_coupon_and_it_can_be_used_again(clean: None) -> None:
    w = await world()
    coupon = await _give(w.customer_id, await template(off_fen=300))
    req = CheckoutRequest(store_id=w.store_id, kind="pickup", lines=[LineIn(w.sku_id, 1)], coupon_id=coupon)
    async with unit_of_work() as s:
        first = (await place_order(s, w.customer_id, req, "cancel-key-1")).order_id
    assert await _state(coupon) == "locked"
    async with unit_of_work() as s:
        await cancel_order(s, first, SYSTEM.label, "顾客不要了")
    assert await _state(coupon) == "returned"
    async with unit_of_work() as s:
        second = (await place_order(s, w.customer_id, req, "cancel-key-2")).order_id
        await mark_paid(s, second, "wx-c-2", clock.now())
    c = (await rows("SELECT state, order_id, times_returned FROM customer_coupons WHERE id = :i", i=coupon))[0]
    assert (c.state, c.order_id, c.times_returned) == ("used", second, 1)
    # cancelling a paid order gives the used coupon back too
    async with unit_of_work() as s:
        await cancel_order(s, second, SYSTEM.label, "门店缺货")
    assert await _state(coupon) == "returned"


async def test_a_full_refund_returns_the_coupon_a_partial_one_does_not(clean: None) -> None:
    from tests.integration.orders.factories import list_sku, make_sku

    w = await world(price_fen=1000)
    async with unit_of_work() as s:
        second = await make_sku(s, price_fen=500)
        await list_sku(s, w.store_id, second)
    coupon = await _give(w.customer_id, await template(off_fen=300))
    req = CheckoutRequest(
        store_id=w.store_id, kind="pickup", lines=[LineIn(w.sku_id, 1), LineIn(second, 1)], coupon_id=coupon
    )
    async with unit_of_work() as s:
        order_id = (await place_order(s, w.customer_id, req, "refund-key-1")).order_id
        await mark_paid(s, order_id, "wx-r-1", clock.now())
        for to in ("preparing", "ready", "picked_up"):
            await transition(s, order_id, to, "user:1")
    from orders.after_sales import RefundLine

    async with unit_of_work() as s:
        part = await request_refund(s, order_id, "customer", "少了一件", lines=[RefundLine(second, 1)])
        await decide_refund(s, part.id, True, "user:1", "ok")
    assert await _state(coupon) == "used"
    async with unit_of_work() as s:
        rest = await request_refund(s, order_id, "customer", "都退了", lines=[RefundLine(w.sku_id, 1)])
        await decide_refund(s, rest.id, True, "user:1", "ok")
    assert await scalar("SELECT refunded_fen = paid_fen FROM orders WHERE id = :i", i=order_id)
    assert await _state(coupon) == "returned"


async def test_free_delivery_coupon_zeroes_the_fee_and_is_not_for_pickup(client: AsyncClient) -> None:
    w = await world(price_fen=3000)
    coupon = await _give(w.customer_id, await template(title="免配送费", kind="free_delivery", off_fen=0))
    lat, lng = north(2000)
    address = {"contact_name": "张三", "phone": "13800000000", "address": "人民大道 1 号", "lat": lat, "lng": lng}
    me = customer_headers(w.customer_id)
    base = {"store_id": w.store_id, "lines": [{"sku_id": w.sku_id, "qty": 1}], "coupon_id": coupon}
    q = await client.post("/api/orders/quote", json={**base, "kind": "delivery", "address": address}, headers=me)
    assert q.status_code == 200, q.text
    assert q.json()["delivery_fee_fen"] == 0 and q.json()["total_fen"] == 3000
    r = await client.post("/api/orders/quote", json={**base, "kind": "pickup"}, headers=me)
    assert r.status_code == 422 and "到店自提" in r.json()["detail"]
    _ = AddressIn  # the same address shape the orders API takes


async def test_newcomer_coupon_only_before_the_first_paid_order(client: AsyncClient) -> None:
    w = await world()
    plain = await template(off_fen=100, per_customer_limit=5)
    newbie = await _give(w.customer_id, await template(title="新人券", kind="newcomer", off_fen=500))
    req = CheckoutRequest(
        store_id=w.store_id, kind="pickup", lines=[LineIn(w.sku_id, 1)], coupon_id=await _give(w.customer_id, plain)
    )
    async with unit_of_work() as s:
        order_id = (await place_order(s, w.customer_id, req, "newbie-key-1")).order_id
        await mark_paid(s, order_id, "wx-n-1", clock.now())
    body = {"store_id": w.store_id, "kind": "pickup", "lines": [{"sku_id": w.sku_id, "qty": 1}]}
    q = (await client.post("/api/orders/quote", json=body, headers=customer_headers(w.customer_id))).json()
    option = next(o for o in q["coupon_options"] if o["coupon_id"] == newbie)
    assert option["applicable"] is False and option["reason"] == "新人券仅限首单使用"
