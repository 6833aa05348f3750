"""Points on WeChat-paid orders: earned on OrderPaid, reversed in proportion on a partial refund (RefundSucceeded),
all taken back when a paid order is cancelled; the ledger stays balanced."""

from __future__ import annotations

import httpx

from core.db import unit_of_work
from orders.services import cancel_order
from payments.request_refund import request_refund
from tests.integration.members.conftest import Member, balances, statement_matches
from tests.integration.orders.factories import customer_headers
from tests.integration.payments.conftest import (
    eventually,
    ledger_ok,
    order_status,
    place,
    run_jobs,
    sandbox_pay,
    scalar,
    set_sandbox,
    start,
)


async def paid(http: httpx.AsyncClient, m: Member, qty: int) -> int:
    p = await place(m.w, qty)
    intent = await start(p.order_id)
    await sandbox_pay(http, intent.out_trade_no)

    async def is_paid() -> bool:
        return await order_status(p.order_id) == "paid"

    await eventually(is_paid, what="the order to be paid")
    return p.order_id


async def refunds_done(n: int) -> None:
    async def done() -> bool:
        await run_jobs()
        return await scalar("SELECT count(*) FROM payment_refunds WHERE status = 'success'") == n

    await eventually(done, what=f"{n} refunds to succeed")


async def test_points_reversed_in_proportion_to_partial_refunds(http: httpx.AsyncClient, member_world: Member) -> None:
    await set_sandbox(http, refund_delay_seconds=0)
    order_id = await paid(http, member_world, 7)  # 70 yuan → 70 points, 7,000 growth
    assert await balances(member_world.card_id) == (0, 0, 70)
    async with unit_of_work() as s:
        await request_refund(s, order_id, 1_000, "退一件", "t:1")
    await refunds_done(1)
    assert (await balances(member_world.card_id))[2] == 60  # 70 × 1,000 / 7,000 taken back
    async with unit_of_work() as s:
        await request_refund(s, order_id, 2_500, "再退", "t:2")
    await refunds_done(2)
    assert (await balances(member_world.card_id))[2] == 70 - 70 * 3_500 // 7_000
    assert await scalar("SELECT growth_fen FROM member_cards") == 3_500
    assert await scalar("SELECT reversed_points FROM member_points_awards") == 35
    assert await statement_matches(member_world.card_id)
    await ledger_ok()


async def test_cancelling_a_paid_order_takes_all_its_points_back(http: httpx.AsyncClient, member_world: Member) -> None:
    await set_sandbox(http, refund_delay_seconds=0)
    keep = await paid(http, member_world, 2)
    order_id = await paid(http, member_world, 5)
    assert (await balances(member_world.card_id))[2] == 70
    async with unit_of_work() as s:
        await cancel_order(s, order_id, "test", "缺货")
    await refunds_done(1)  # the WeChat refund's RefundSucceeded takes nothing more
    assert (await balances(member_world.card_id))[2] == 20
    assert await scalar("SELECT growth_fen FROM member_cards") == 2_000
    assert keep != order_id and await statement_matches(member_world.card_id)
    await ledger_ok()


async def test_points_spent_at_checkout_are_capped_held_and_given_back_on_cancel(
    client: httpx.AsyncClient, member_world: Member
) -> None:
    from shop.members import award_points

    async with unit_of_work() as s:
        await award_points(s, member_world.w.customer_id, 9_999, 50_000)  # 500 points (and 银卡: 2% off)
    me = customer_headers(member_world.w.customer_id)
    body = {
        "store_id": member_world.w.store_id,
        "kind": "pickup",
        "lines": [{"sku_id": member_world.w.sku_id, "qty": 10}],
    }
    q = (await client.post("/api/orders/quote", json={**body, "points": 300}, headers=me)).json()
    assert (q["points"], q["points_fen"], q["points_available"], q["member_discount_fen"]) == (300, 300, 500, 200)
    assert q["total_fen"] == 10_000 - 200 - 300 and q["points_max"] == 500 and q["member_balance_fen"] == 0

    too_many = await client.post("/api/orders/quote", json={**body, "points": 600}, headers=me)
    assert too_many.status_code == 422 and "积分不足" in too_many.json()["detail"]
    body_small = {**body, "lines": [{"sku_id": member_world.w.sku_id, "qty": 1}]}
    over_cap = await client.post("/api/orders/quote", json={**body_small, "points": 300}, headers=me)
    assert over_cap.status_code == 422 and "最多可用 196 积分" in over_cap.json()["detail"]

    r = await client.post(
        "/api/orders", json={**body, "points": 300}, headers={**me, "Idempotency-Key": "points-order-1"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["total_fen"] == 9_500
    assert await balances(member_world.card_id) == (0, 0, 200)
    order_id = await scalar("SELECT id FROM orders")
    async with unit_of_work() as s:
        await cancel_order(s, order_id, "test", "不要了")
    assert await balances(member_world.card_id) == (0, 0, 500)
    assert await scalar("SELECT state FROM member_holds WHERE kind = 'points'") == "released"
    assert await statement_matches(member_world.card_id)
