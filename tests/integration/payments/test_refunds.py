"""Refunds: partial and full, never more than paid − refunded, idempotent by ref, retried through WeChat failures,
ABNORMAL surfaced, the query fallback, and after-sales refunds echoed back to orders."""

from __future__ import annotations

import httpx
import pytest

from core import clock
from core.db import unit_of_work
from core.errors import Conflict
from orders.services import decide_refund, transition
from orders.services import request_refund as ask_refund
from payments.request_refund import RefundTooLarge, request_refund
from tests.integration.orders.factories import World, staff_user
from tests.integration.payments.conftest import (
    Paying,
    add_fault,
    eventually,
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


async def paid_order(http: httpx.AsyncClient, w: World, qty: int = 1) -> tuple[Paying, str]:
    await set_sandbox(http, refund_delay_seconds=0)
    p = await place(w, qty)
    intent = await start(p.order_id)
    await sandbox_pay(http, intent.out_trade_no)

    async def paid() -> bool:
        return await order_status(p.order_id) == "paid"

    await eventually(paid, what="the payment notify")
    return p, intent.out_trade_no


async def refund(order_id: int, fen: int, ref: str) -> object:
    async with unit_of_work() as s:
        return await request_refund(s, order_id, fen, "test", ref)


async def statuses(order_id: int) -> list[str]:
    return [r.status for r in await refunds_of(order_id)]


async def settled(order_id: int, *expected: str) -> None:
    async def check() -> bool:
        return await statuses(order_id) == list(expected)

    await eventually(check, what=f"refunds {expected}")


async def test_partial_then_full_never_more_than_paid(http: httpx.AsyncClient, shop_world: World) -> None:
    p, _ = await paid_order(http, shop_world, qty=2)  # 2468 fen
    first = await refund(p.order_id, 1000, "t:1")
    assert await refund(p.order_id, 1000, "t:1") == first  # the same request again: the same refund
    with pytest.raises(Conflict):
        await refund(p.order_id, 999, "t:1")
    with pytest.raises(RefundTooLarge) as too_much:
        await refund(p.order_id, 1469, "t:2")
    assert too_much.value.extra == {"left_fen": 1468}
    await refund(p.order_id, 1468, "t:2")
    with pytest.raises(RefundTooLarge):
        await refund(p.order_id, 1, "t:3")
    await run_jobs()
    await settled(p.order_id, "success", "success")
    out_refund_nos = [r.out_refund_no for r in await refunds_of(p.order_id)]
    sandbox = (
        await http.get(f"/sandbox/api/pay/orders/{(await rows('SELECT out_trade_no FROM payment_intents'))[0][0]}")
    ).json()
    assert sorted((r["out_refund_no"], r["amount"]["refund"]) for r in sandbox["refunds"]) == sorted(
        zip(out_refund_nos, [1000, 1468], strict=True)
    )
    assert await scalar("SELECT sum(debit_fen - credit_fen) FROM ledger_entries WHERE account = 'wechat_clearing'") == 0
    await ledger_ok()


async def test_refund_is_retried_while_wechat_fails_twice(http: httpx.AsyncClient, shop_world: World) -> None:
    p, out_trade_no = await paid_order(http, shop_world)
    # WeChat takes the request but our answer is lost twice (500); only our retries may settle it, so its
    # REFUND notify is dropped too. The same out_refund_no makes the retries one refund at WeChat.
    await add_fault(http, "error", scope="response", out_trade_no=out_trade_no, count=2, params={"status": 500})
    await add_fault(http, "drop", out_trade_no=out_trade_no, event_type="REFUND")
    await refund(p.order_id, 1234, "retry:1")
    for attempt in (1, 2):
        await run_jobs(rounds=1)
        [r] = await refunds_of(p.order_id)
        assert (r.status, r.attempts) == ("pending", attempt) and "SYSTEM_ERROR" in r.last_error
        job = (await rows("SELECT status, attempts FROM jobs WHERE kind = 'payments.send_refund'"))[0]
        assert (job.status, job.attempts) == ("pending", attempt)
        clock.advance(60)  # past the backoff
    await run_jobs()
    await settled(p.order_id, "success")
    [r] = await refunds_of(p.order_id)
    assert r.wechat_refund_id and r.succeeded_at is not None
    sandbox = (await http.get(f"/sandbox/api/pay/orders/{out_trade_no}")).json()
    assert [x["status"] for x in sandbox["refunds"]] == ["SUCCESS"]  # one refund at WeChat, not three
    await ledger_ok()


async def test_abnormal_refund_is_surfaced_to_finance(http: httpx.AsyncClient, shop_world: World) -> None:
    p, out_trade_no = await paid_order(http, shop_world)
    await add_fault(http, "refund_outcome", scope="refund", out_trade_no=out_trade_no, params={"status": "ABNORMAL"})
    await refund(p.order_id, 1234, "abnormal:1")
    await run_jobs()
    await settled(p.order_id, "abnormal")
    assert await scalar("SELECT count(*) FROM ledger_transactions WHERE kind = 'refund'") == 0
    listed = await rows("SELECT status FROM payment_refunds WHERE status = 'abnormal'")
    assert len(listed) == 1
    await ledger_ok()


async def test_refund_without_notify_is_settled_by_polling(http: httpx.AsyncClient, shop_world: World) -> None:
    p, out_trade_no = await paid_order(http, shop_world)
    await add_fault(http, "drop", out_trade_no=out_trade_no, event_type="REFUND")
    await refund(p.order_id, 500, "poll:1")
    await run_jobs()
    assert await statuses(p.order_id) == ["processing"]
    clock.advance(31)
    await run_jobs()
    assert await statuses(p.order_id) == ["success"]
    await ledger_ok()


async def test_after_sales_refund_goes_back_to_orders(http: httpx.AsyncClient, shop_world: World) -> None:
    p, _ = await paid_order(http, shop_world, qty=2)
    async with unit_of_work() as s:
        for to in ("preparing", "ready", "picked_up"):
            await transition(s, p.order_id, to, "staff:1", "test")
    async with unit_of_work() as s:
        asked = await ask_refund(s, p.order_id, f"customer:{shop_world.customer_id}", "坏了一盒")
    async with unit_of_work() as s:
        await decide_refund(s, asked.id, True, "staff:1")
    [r] = await refunds_of(p.order_id)
    assert (r.ref, r.amount_fen) == (f"aftersale:{asked.id}", asked.amount_fen)
    await run_jobs()
    await settled(p.order_id, "success")

    async def marked() -> bool:
        return await scalar("SELECT status FROM refund_requests WHERE id = :id", id=asked.id) == "refunded"

    await eventually(marked, what="orders to mark the request refunded")
    await ledger_ok()


async def test_a_refused_refund_is_failed_then_sent_again_by_finance(
    http: httpx.AsyncClient, shop_world: World
) -> None:
    p, out_trade_no = await paid_order(http, shop_world)
    await add_fault(
        http,
        "error",
        scope="response",
        out_trade_no=out_trade_no,
        count=1,
        params={"status": 400, "code": "INVALID_REQUEST", "message": "退款资金不足"},
    )
    await add_fault(http, "drop", out_trade_no=out_trade_no, event_type="REFUND")
    await refund(p.order_id, 1234, "failed:1")
    await run_jobs()
    [r] = await refunds_of(p.order_id)
    assert r.status == "failed" and "INVALID_REQUEST" in r.last_error
    _, fin = await staff_user("fin-retry", "finance")
    listed = (await http.get("/api/finance/refunds?status=failed", headers=fin)).json()
    assert [x["id"] for x in listed] == [r.id]
    again = await http.post(f"/api/finance/refunds/{r.id}/retry", headers=fin)
    assert again.status_code == 200 and again.json()["status"] == "pending"
    assert (await http.post(f"/api/finance/refunds/{r.id}/retry", headers=fin)).status_code == 409
    await run_jobs()
    await settled(p.order_id, "success")
    await ledger_ok()
