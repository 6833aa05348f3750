"""Concurrency: 20 simultaneous deliveries credit once; cancel racing a notify, in both orders, never keeps money."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from core.db import sessionmaker, unit_of_work
from core.events import RefundSucceeded, subscribe
from orders.services import cancel_order, customer_cancel
from payments.credit_payment import credit_payment
from payments.status import lock_intent
from tests.integration.orders.factories import World
from tests.integration.payments.conftest import (
    add_fault,
    deliver,
    eventually,
    intent_status,
    ledger_ok,
    notify_body,
    order_status,
    place,
    refunds_of,
    rows,
    run_jobs,
    sandbox_notify_from,
    sandbox_pay,
    scalar,
    set_sandbox,
    start,
    transaction_resource,
)
from wechat.pay import Transaction

TXN = "4200000002202603010000000002"


async def test_twenty_concurrent_deliveries_credit_once(live_app: str, shop_world: World) -> None:
    p = await place(shop_world)
    intent = await start(p.order_id)
    body = notify_body(transaction_resource(intent.out_trade_no, intent.amount_fen, TXN))
    answers = await asyncio.gather(*(deliver(body) for _ in range(20)))
    assert [a.status_code for a in answers] == [204] * 20
    assert sorted(a.outcome for a in answers) == ["credited"] + ["repeat"] * 19
    assert await order_status(p.order_id) == "paid"
    assert await scalar("SELECT count(*) FROM ledger_transactions WHERE kind = 'payment'") == 1
    assert await scalar("SELECT count(*) FROM payment_events WHERE to_status = 'paid'") == 1
    assert await scalar("SELECT count(*) FROM payment_notifies WHERE outcome = 'repeat'") == 19
    await ledger_ok()


async def test_twenty_concurrent_http_copies_from_the_sandbox_credit_once(
    http: httpx.AsyncClient, shop_world: World
) -> None:
    p = await place(shop_world)
    intent = await start(p.order_id)
    await add_fault(http, "duplicate", out_trade_no=intent.out_trade_no, params={"copies": 10, "concurrent": True})
    await add_fault(http, "duplicate", out_trade_no=intent.out_trade_no, params={"copies": 9, "concurrent": True})
    await sandbox_pay(http, intent.out_trade_no)

    async def all_answered() -> bool:
        return int(await scalar("SELECT count(*) FROM payment_notifies")) >= 11

    await eventually(all_answered, what="the concurrent copies")
    outcomes = [r.outcome for r in await rows("SELECT outcome FROM payment_notifies")]
    assert outcomes.count("credited") == 1 and set(outcomes) == {"credited", "repeat"}
    assert await scalar("SELECT count(*) FROM ledger_transactions") == 1
    await ledger_ok()


@pytest.fixture
def refunds_published():  # type: ignore[no-untyped-def]
    seen: list[RefundSucceeded] = []

    async def record(session, event) -> None:  # type: ignore[no-untyped-def]
        seen.append(event)

    subscribe(RefundSucceeded, record)
    yield seen
    from core.events import _handlers

    _handlers[RefundSucceeded].remove(record)


async def _refund_completes(http: httpx.AsyncClient, order_id: int) -> None:
    await run_jobs()  # send_refund → the sandbox accepts (PROCESSING) and settles, then notifies REFUND.SUCCESS

    async def done() -> bool:
        return [r.status for r in await refunds_of(order_id)] == ["success"]

    await eventually(done, what="the refund to succeed")


async def test_cancel_holding_the_order_then_the_notify(
    http: httpx.AsyncClient, shop_world: World, refunds_published: list
) -> None:
    """Cancel commits first while the notify waits for the order row: the payment is credited and refunded."""
    await set_sandbox(http, refund_delay_seconds=0)
    p = await place(shop_world)
    intent = await start(p.order_id)
    # The customer pays at WeChat; this test delivers WeChat's notify itself, at the worst moment.
    await add_fault(http, "drop", out_trade_no=intent.out_trade_no, event_type="TRANSACTION")
    await sandbox_pay(http, intent.out_trade_no)
    body = await sandbox_notify_from(http, intent.out_trade_no)
    async with sessionmaker()() as s1:
        async with s1.begin():
            await cancel_order(s1, p.order_id, "customer:1", "changed my mind")
            notify = asyncio.create_task(deliver(body))
            await asyncio.sleep(0.3)
            assert not notify.done()  # it holds the intent and waits for the order row
    answer = await notify
    assert (answer.status_code, answer.outcome) == (204, "late")
    assert await order_status(p.order_id) == "cancelled"
    [refund] = await refunds_of(p.order_id)
    assert (refund.kind, refund.wechat_fen, refund.status) == ("late_payment", intent.amount_fen, "pending")
    await _refund_completes(http, p.order_id)
    assert [(e.order_id, e.amount_fen) for e in refunds_published] == [(p.order_id, intent.amount_fen)]
    assert await scalar("SELECT sum(debit_fen - credit_fen) FROM ledger_entries WHERE account = 'wechat_clearing'") == 0
    assert (
        await scalar("SELECT sum(debit_fen - credit_fen) FROM ledger_entries WHERE account = 'unallocated_receipts'")
        == 0
    )
    await ledger_ok()


async def test_notify_holding_the_order_then_the_deadline_cancel(http: httpx.AsyncClient, shop_world: World) -> None:
    """The payment commits first while the deadline's cancel waits: the order stays paid, nothing to refund."""
    p = await place(shop_world)
    intent = await start(p.order_id)
    txn = Transaction.from_json(transaction_resource(intent.out_trade_no, intent.amount_fen, TXN))
    async with sessionmaker()() as s1:
        async with s1.begin():
            locked = await lock_intent(s1, out_trade_no=intent.out_trade_no)
            assert locked is not None
            credit = await credit_payment(s1, locked, txn, via="notify")

            async def deadline_cancel() -> object:
                async with unit_of_work() as s2:
                    return await cancel_order(s2, p.order_id, "payments", "deadline", unpaid_only=True)

            cancel = asyncio.create_task(deadline_cancel())
            await asyncio.sleep(0.3)
            assert not cancel.done()
    assert credit.outcome == "credited"
    assert (await cancel).outcome == "paid_meanwhile"  # type: ignore[attr-defined]
    assert await order_status(p.order_id) == "paid" and await refunds_of(p.order_id) == []
    await ledger_ok()


async def test_notify_holding_the_order_then_the_customer_cancels(http: httpx.AsyncClient, shop_world: World) -> None:
    """Paid first, then the customer cancels (allowed before the store starts): the money goes back."""
    await set_sandbox(http, refund_delay_seconds=0)
    p = await place(shop_world)
    intent = await start(p.order_id)
    await sandbox_pay(http, intent.out_trade_no)

    async def paid() -> bool:
        return await order_status(p.order_id) == "paid"

    await eventually(paid, what="the notify")
    async with unit_of_work() as s:
        done = await customer_cancel(s, p.order_id, shop_world.customer_id, "不要了")
    assert done.outcome == "cancelled" and done.refund_due_fen == intent.amount_fen
    [refund] = await refunds_of(p.order_id)
    assert (refund.kind, refund.ref, refund.wechat_fen) == ("order", f"cancel:{p.order_id}", intent.amount_fen)
    await _refund_completes(http, p.order_id)
    assert await intent_status(intent.out_trade_no) == "paid"
    assert (
        await scalar("SELECT sum(debit_fen) FROM ledger_entries WHERE account = :a", a=f"refunds:{shop_world.store_id}")
        == intent.amount_fen
    )
    await ledger_ok()
