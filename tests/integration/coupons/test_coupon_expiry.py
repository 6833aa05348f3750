"""Expiry: a coupon past its end is refused at checkout even before the sweep runs; the durable sweep marks it
expired; a coupon that comes back from a cancelled order after its end is expired, not returned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from httpx import AsyncClient

from core import clock
from core.db import unit_of_work
from core.events import CouponExpiring, subscribe
from orders.cancel_order import cancel_order
from orders.checkout import CheckoutRequest, LineIn
from orders.place_order import place_order
from shop.coupons.claim_coupon import claim_coupon
from tests.integration.coupons.helpers import rows, scalar, template
from tests.integration.engage.conftest import run_jobs
from tests.integration.orders.factories import customer_headers, world

pytestmark = pytest.mark.usefixtures("own_handlers")


async def test_expired_before_and_after_the_sweep(client: AsyncClient) -> None:
    seen: list[CouponExpiring] = []

    async def record(_: object, event: CouponExpiring) -> None:
        seen.append(event)

    subscribe(CouponExpiring, record)
    w = await world()
    t = await template(title="两天券", valid_days=2)
    async with unit_of_work() as s:
        coupon = (await claim_coupon(s, w.customer_id, t)).coupon_id
    assert await scalar("SELECT count(*) FROM jobs WHERE kind IN ('coupons.expire', 'coupons.remind')") == 2

    clock.advance(timedelta(days=1, hours=1))  # inside the last 24 h: the reminder sweep is due
    await run_jobs()
    assert [(e.coupon_id, e.title) for e in seen] == [(coupon, "两天券")]
    assert await scalar("SELECT reminded_at IS NOT NULL FROM customer_coupons WHERE id = :i", i=coupon)

    clock.advance(timedelta(hours=23, minutes=30))  # past the end, before the hourly sweep
    body = {"store_id": w.store_id, "kind": "pickup", "lines": [{"sku_id": w.sku_id, "qty": 1}], "coupon_id": coupon}
    r = await client.post("/api/orders/quote", json=body, headers=customer_headers(w.customer_id))
    assert r.status_code == 422 and r.json()["detail"] == "这张优惠券不能用于本订单：这张优惠券已过期"
    assert await scalar("SELECT state FROM customer_coupons WHERE id = :i", i=coupon) == "available"
    clock.advance(timedelta(hours=1))
    await run_jobs()
    assert await scalar("SELECT state FROM customer_coupons WHERE id = :i", i=coupon) == "expired"
    assert len(seen) == 1  # reminded once


async def test_a_coupon_back_from_an_order_after_its_end_is_expired(clean: None) -> None:
    w = await world()
    t = await template(valid_days=1)
    async with unit_of_work() as s:
        coupon = (await claim_coupon(s, w.customer_id, t)).coupon_id
    req = CheckoutRequest(store_id=w.store_id, kind="pickup", lines=[LineIn(w.sku_id, 1)], coupon_id=coupon)
    async with unit_of_work() as s:
        order_id = (await place_order(s, w.customer_id, req, "late-key-1")).order_id
    clock.advance(timedelta(days=2))
    await run_jobs()
    assert await scalar("SELECT state FROM customer_coupons WHERE id = :i", i=coupon) == "locked"  # its order decides
    async with unit_of_work() as s:
        await cancel_order(s, order_id, "system", "超时未支付")
    c = (await rows("SELECT state, expired_at IS NOT NULL AS ended FROM customer_coupons WHERE id = :i", i=coupon))[0]
    assert (c.state, c.ended) == ("expired", True)
