"""Urgent orders: the money waits in HQ clearing until a store claims the order, then moves to that store
(and on to the next one if the order is handed over); refunds come back from where the money is."""

from __future__ import annotations

import httpx

from core.db import unit_of_work
from core.events import DispatchAccepted, publish
from orders.checkout import AddressIn, CheckoutRequest, LineIn
from orders.place_order import place_order
from payments.request_refund import request_refund
from tests.integration.orders.factories import World, make_store, north
from tests.integration.payments.conftest import (
    eventually,
    ledger_ok,
    order_status,
    refunds_of,
    rows,
    run_jobs,
    sandbox_pay,
    set_sandbox,
    start,
)


async def balances() -> dict[str, int]:
    got = await rows("SELECT account, sum(credit_fen - debit_fen) AS b FROM ledger_entries GROUP BY account")
    return {r.account: int(r.b) for r in got if r.b}


async def claimed(order_id: int, store_id: int) -> None:
    async with unit_of_work() as s:
        await publish(s, DispatchAccepted(order_id=order_id, store_id=store_id))


async def test_urgent_money_follows_the_claiming_store(http: httpx.AsyncClient, shop_world: World) -> None:
    await set_sandbox(http, refund_delay_seconds=0)
    lat, lng = north(800)
    req = CheckoutRequest(
        store_id=shop_world.store_id,
        kind="urgent",
        lines=[LineIn(shop_world.sku_id, 2, shop_world.price_fen)],
        address=AddressIn(contact_name="李四", phone="13900000000", address="人民大道 2 号", lat=lat, lng=lng),
    )
    async with unit_of_work() as s:
        placed = await place_order(s, shop_world.customer_id, req, "urgent-key-0001")
        other = await make_store(s)
    intent = await start(placed.order_id)
    await sandbox_pay(http, intent.out_trade_no)

    async def paid() -> bool:
        return await order_status(placed.order_id) == "paid"

    await eventually(paid, what="the notify")
    total = placed.total_fen
    assert await balances() == {"hq_clearing": total, "wechat_clearing": -total}

    await claimed(placed.order_id, shop_world.store_id)
    await claimed(placed.order_id, shop_world.store_id)  # the same claim again: nothing moves twice
    b = await balances()
    assert b.get("hq_clearing", 0) == 0
    assert b[f"store_revenue:{shop_world.store_id}"] + b.get(f"delivery_income:{shop_world.store_id}", 0) == total

    await claimed(placed.order_id, other)  # handed over to another store
    b = await balances()
    assert f"store_revenue:{shop_world.store_id}" not in b
    assert b[f"store_revenue:{other}"] + b.get(f"delivery_income:{other}", 0) == total

    async with unit_of_work() as s:
        await request_refund(s, placed.order_id, 100, "少送一件", "urgent:1")
    await run_jobs()

    async def refunded() -> bool:
        return [r.status for r in await refunds_of(placed.order_id)] == ["success"]

    await eventually(refunded, what="the refund")
    assert (await balances())[f"refunds:{other}"] == -100
    await ledger_ok()
