"""The unpaid deadline (payments decides), missed notifies found by asking WeChat, superseded intents closed,
and a payment that arrives after the order was cancelled: credited and refunded automatically."""

from __future__ import annotations

from datetime import timedelta

import httpx

from core import clock
from core.db import unit_of_work
from orders.services import customer_cancel
from tests.integration.orders.factories import World
from tests.integration.payments.conftest import (
    add_fault,
    eventually,
    intent_status,
    ledger_count,
    ledger_ok,
    order_status,
    place,
    refunds_of,
    rows,
    run_jobs,
    sandbox_pay,
    scalar,
    set_sandbox,
    start,
)

PAST_DEADLINE = timedelta(minutes=16)  # orders' default payment deadline is 15 minutes


async def sandbox_state(http: httpx.AsyncClient, out_trade_no: str) -> str:
    return (await http.get(f"/sandbox/api/pay/orders/{out_trade_no}")).json()["trade_state"]


async def test_no_payment_started_cancels_at_the_deadline(live_app: str, shop_world: World) -> None:
    p = await place(shop_world)
    clock.advance(PAST_DEADLINE)
    await run_jobs()
    assert await order_status(p.order_id) == "cancelled"
    assert await ledger_count() == 0


async def test_unpaid_intent_is_closed_at_wechat_then_the_order_cancelled(
    http: httpx.AsyncClient, shop_world: World
) -> None:
    p = await place(shop_world)
    intent = await start(p.order_id)
    clock.advance(PAST_DEADLINE)
    await run_jobs()
    assert await intent_status(intent.out_trade_no) == "closed"
    assert await sandbox_state(http, intent.out_trade_no) == "CLOSED"
    assert await order_status(p.order_id) == "cancelled"
    assert await ledger_count() == 0


async def test_the_deadline_job_queries_closes_and_cancels(http: httpx.AsyncClient, shop_world: World) -> None:
    """With an intent still open at the deadline, the decision runs as payments.settle_deadline (WeChat calls
    outside any business lock), not inside the orders job's transaction."""
    p = await place(shop_world)
    intent = await start(p.order_id)
    await scalar("DELETE FROM jobs WHERE kind = 'payments.check_intent' RETURNING 1")
    clock.advance(PAST_DEADLINE)
    await run_jobs(rounds=1)  # orders' deadline job: publishes PaymentDeadlineReached → our job is enqueued
    assert await order_status(p.order_id) == "created"
    assert await scalar("SELECT count(*) FROM jobs WHERE kind = 'payments.settle_deadline' AND status = 'pending'") == 1
    await run_jobs()
    assert await intent_status(intent.out_trade_no) == "closed"
    assert await order_status(p.order_id) == "cancelled"
    [event] = await rows("SELECT actor, reason FROM payment_events WHERE to_status = 'closed'")
    assert event.actor == "deadline"


async def test_paid_at_the_last_moment_without_notify_is_credited_by_the_deadline(
    http: httpx.AsyncClient, shop_world: World
) -> None:
    p = await place(shop_world)
    intent = await start(p.order_id)
    await scalar("DELETE FROM jobs WHERE kind = 'payments.check_intent' RETURNING 1")
    await add_fault(http, "drop", out_trade_no=intent.out_trade_no)  # the notify never comes
    await sandbox_pay(http, intent.out_trade_no)
    clock.advance(PAST_DEADLINE)
    await run_jobs()
    assert await order_status(p.order_id) == "paid"
    [i] = await rows("SELECT status, paid_via, credit_outcome FROM payment_intents")
    assert tuple(i) == ("paid", "query", "credited")
    await ledger_ok()


async def test_wechat_down_at_the_deadline_is_retried(http: httpx.AsyncClient, shop_world: World) -> None:
    p = await place(shop_world)
    intent = await start(p.order_id)
    await scalar("DELETE FROM jobs WHERE kind = 'payments.check_intent' RETURNING 1")
    await add_fault(http, "error", scope="response", out_trade_no=intent.out_trade_no, count=1, params={"status": 500})
    clock.advance(PAST_DEADLINE)
    await run_jobs(rounds=2)
    job = (await rows("SELECT status, attempts, last_error FROM jobs WHERE kind = 'payments.settle_deadline'"))[0]
    assert job.status == "pending" and job.attempts == 1 and "WeChat could not be asked" in job.last_error
    assert await order_status(p.order_id) == "created"
    clock.advance(60)
    await run_jobs()
    assert await order_status(p.order_id) == "cancelled" and await intent_status(intent.out_trade_no) == "closed"


async def test_missed_notify_is_found_by_the_recovery_check(http: httpx.AsyncClient, shop_world: World) -> None:
    p = await place(shop_world)
    intent = await start(p.order_id)
    await add_fault(http, "drop", out_trade_no=intent.out_trade_no)
    await sandbox_pay(http, intent.out_trade_no)
    clock.advance(timedelta(minutes=2, seconds=5))
    await run_jobs()
    assert await order_status(p.order_id) == "paid"
    assert await scalar("SELECT paid_via FROM payment_intents") == "query"
    await ledger_ok()


async def test_recovery_keeps_checking_an_unpaid_intent_until_its_deadline(live_app: str, shop_world: World) -> None:
    p = await place(shop_world)
    await start(p.order_id)
    clock.advance(timedelta(minutes=2, seconds=5))
    await run_jobs()
    assert await scalar("SELECT checks FROM payment_intents") == 1
    assert await scalar("SELECT count(*) FROM jobs WHERE dedupe_key LIKE 'intent:%:check:2'") == 1
    assert await order_status(p.order_id) == "created"


async def test_superseded_intent_is_closed(http: httpx.AsyncClient, shop_world: World) -> None:
    p = await place(shop_world)
    jsapi = await start(p.order_id, "JSAPI")
    native = await start(p.order_id, "NATIVE")
    await sandbox_pay(http, native.out_trade_no)

    async def paid() -> bool:
        return await order_status(p.order_id) == "paid"

    await eventually(paid, what="the Native payment's notify")
    clock.advance(timedelta(minutes=2, seconds=5))
    await run_jobs()
    assert await intent_status(jsapi.out_trade_no) == "closed"
    assert await sandbox_state(http, jsapi.out_trade_no) == "CLOSED"
    await ledger_ok()


async def test_late_payment_after_cancel_is_refunded_automatically(http: httpx.AsyncClient, shop_world: World) -> None:
    await set_sandbox(http, refund_delay_seconds=0)
    p = await place(shop_world)
    intent = await start(p.order_id)
    async with unit_of_work() as s:
        await customer_cancel(s, p.order_id, shop_world.customer_id, "下错单了")
    # The customer still had the pay sheet open and pays before the close job reached WeChat.
    await sandbox_pay(http, intent.out_trade_no)

    async def credited_late() -> bool:
        return await scalar("SELECT credit_outcome FROM payment_intents") == "late"

    await eventually(credited_late, what="the late notify")
    await run_jobs()  # the close job (nothing left to close) and the refund

    async def refunded() -> bool:
        return [r.status for r in await refunds_of(p.order_id)] == ["success"]

    await eventually(refunded, what="the automatic refund")
    [refund] = await refunds_of(p.order_id)
    assert (refund.kind, refund.wechat_fen) == ("late_payment", intent.amount_fen)
    assert await order_status(p.order_id) == "cancelled"
    sandbox_order = (await http.get(f"/sandbox/api/pay/orders/{intent.out_trade_no}")).json()
    assert [(r["status"], r["amount"]["refund"]) for r in sandbox_order["refunds"]] == [("SUCCESS", intent.amount_fen)]
    await ledger_ok()
