"""Points on WeChat-paid orders: earned on OrderPaid, reversed in proportion on a partial refund (RefundSucceeded),
all taken back when a paid order is cancelled; the ledger stays balanced."""

from __future__ import annotations

import httpx

from core.db import unit_of_work
from orders.services import cancel_order
from payments.request_refund import request_refund
from tests.integration.members.conftest import Member, balances, statement_matches
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
