"""Three-way reconciliation of a sandbox day: one planted mismatch of each kind is found — exactly those —,
reruns are idempotent (notes kept, fixed ones cleared), a clean day has none, a bad bill is refused whole."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import httpx

from core import clock
from core.db import unit_of_work
from core.money import fen_to_yuan, yuan_to_fen
from payments.gateway import pay_client
from payments.reconcile_day import reconcile_day
from payments.recover_payments import check_intent
from payments.request_refund import request_refund
from tests.integration.orders.factories import World
from tests.integration.payments.conftest import (
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


async def pay_one(http: httpx.AsyncClient, w: World, *, notify: bool = True, qty: int = 1) -> tuple[int, str]:
    p = await place(w, qty)
    intent = await start(p.order_id)
    if not notify:
        await add_fault(http, "drop", out_trade_no=intent.out_trade_no)
    await sandbox_pay(http, intent.out_trade_no)
    if notify:

        async def paid() -> bool:
            return await order_status(p.order_id) == "paid"

        await eventually(paid, what="the notify")
    return p.order_id, intent.out_trade_no


async def refund_one(http: httpx.AsyncClient, order_id: int, fen: int) -> str:
    async with unit_of_work() as s:
        r = await request_refund(s, order_id, fen, "test", f"recon:{order_id}")
    await run_jobs()

    async def done() -> bool:
        return [x.status for x in await refunds_of(order_id)] == ["success"]

    await eventually(done, what="the refund")
    return r.out_refund_no


async def sandbox_bill(http: httpx.AsyncClient) -> bytes:
    r = await http.get("/sandbox/api/pay/bills/today")
    assert r.status_code == 200
    return r.content


async def open_mismatches() -> dict[tuple[str, str], str]:
    return {(m.kind, m.key): m.status for m in await rows("SELECT kind, key, status FROM recon_mismatches")}


async def test_a_clean_sandbox_day_reconciles_to_zero(http: httpx.AsyncClient, shop_world: World) -> None:
    await set_sandbox(http, refund_delay_seconds=0)
    first, _ = await pay_one(http, shop_world, qty=3)
    await pay_one(http, shop_world)
    await refund_one(http, first, 1000)
    today = clock.now_shanghai().date()
    result = await reconcile_day(today)  # downloads today's bill from the sandbox (dev), SHA1 checked
    assert (result.status, result.rows, result.found) == ("done", 3, {})
    [run] = await rows("SELECT * FROM recon_runs")
    assert (run.payment_rows, run.refund_rows, run.bill_paid_fen, run.bill_refund_fen) == (2, 1, 3702 + 1234, 1000)
    assert (run.local_paid_fen, run.local_refund_fen) == (4936, 1000)
    expected_fee = (3702 * 60 + 5000) // 10000 + (1234 * 60 + 5000) // 10000 - (1000 * 60 + 5000) // 10000
    assert run.bill_fee_fen == expected_fee
    assert await scalar("SELECT sum(debit_fen) FROM ledger_entries WHERE account = 'fees'") == expected_fee
    again = await reconcile_day(today)
    assert again.found == {} and await scalar("SELECT count(*) FROM ledger_transactions WHERE kind = 'fees'") == 1
    await ledger_ok()


async def test_one_planted_mismatch_of_each_kind_is_found(
    http: httpx.AsyncClient, shop_world: World, tmp_path: Path
) -> None:
    await set_sandbox(http, refund_delay_seconds=0)
    a_order, a = await pay_one(http, shop_world)
    _, b = await pay_one(http, shop_world, qty=2)
    _, c = await pay_one(http, shop_world, notify=False)  # paid at WeChat, the notify lost: pending here
    e_order, _ = await pay_one(http, shop_world, qty=3)
    e_refund = await refund_one(http, e_order, 500)

    # missing locally: a payment at WeChat under an out_trade_no we never issued
    client = await pay_client()
    ghost = "PGHOST0000000000000000000001"
    await add_fault(http, "drop", out_trade_no=ghost)
    await client.create_jsapi_order(
        out_trade_no=ghost, description="ghost", total_fen=777, openid="o-ghost", notify_url="http://127.0.0.1:9/x"
    )
    await sandbox_pay(http, ghost)
    # missing in the bill: a payment recorded here that WeChat never saw
    await scalar(
        "INSERT INTO payment_intents (out_trade_no, payable_kind, payable_id, channel, amount_fen, description, appid,"
        " mchid, status, time_expire, transaction_id, paid_fen, paid_at, paid_via, credit_outcome, checks)"
        " SELECT 'PLOCALONLY000000000000000001', payable_kind, payable_id, channel, 999, description, appid, mchid,"
        " 'paid', time_expire, '4200000000000000000000LOCAL1', 999, :now, 'notify', 'duplicate', 0"
        " FROM payment_intents WHERE out_trade_no = :a RETURNING id",
        now=clock.now(),
        a=a,
    )
    await scalar(
        "INSERT INTO payment_refunds (ref, out_refund_no, kind, payable_kind, payable_id, intent_id, amount_fen,"
        " wechat_fen, stored_value_fen, reason, status, attempts, requested_by)"
        " SELECT 'local-only', 'RLOCALONLY', 'duplicate_payment', payable_kind, payable_id, id, 999, 999, 0,"
        " 'x', 'pending', 0, 'test' FROM payment_intents WHERE out_trade_no = 'PLOCALONLY000000000000000001'"
        " RETURNING id"
    )
    # amount differs: what we recorded for b is not what WeChat settled
    await scalar("UPDATE payment_intents SET paid_fen = paid_fen + 1 WHERE out_trade_no = :b RETURNING id", b=b)
    # refund differs: our refund record says one fen more than WeChat refunded
    await scalar(
        "UPDATE payment_refunds SET amount_fen = amount_fen + 1, wechat_fen = wechat_fen + 1 "
        "WHERE out_refund_no = :r RETURNING id",
        r=e_refund,
    )
    # fee totals: the bill charges one fen more than 0.60 % on a's line (and its summary agrees)
    bill = (await sandbox_bill(http)).decode()
    lines = bill.rstrip("\r\n").split("\r\n")
    at = next(n for n, line in enumerate(lines) if f",`{a}," in line)
    cells = lines[at].split(",")
    cells[22] = "`" + fen_to_yuan(yuan_to_fen(cells[22]) + 1)  # 手续费
    lines[at] = ",".join(cells)
    summary = lines[-1].split(",")
    summary[4] = "`" + fen_to_yuan(yuan_to_fen(summary[4]) + 1)  # 手续费总金额
    lines[-1] = ",".join(summary)
    planted = "\r\n".join(lines) + "\r\n"
    path = tmp_path / "tradebill.csv"
    path.write_text(planted, encoding="utf-8")

    today = clock.now_shanghai().date()
    result = await reconcile_day(today, bill_file=path, expected_sha1=hashlib.sha1(planted.encode()).hexdigest())
    assert result.status == "done", result.error
    assert await open_mismatches() == {
        ("missing_locally", ghost): "open",
        ("missing_in_bill", "PLOCALONLY000000000000000001"): "open",
        ("amount_differs", b): "open",
        ("status_differs", c): "open",
        ("refund_differs", e_refund): "open",
        ("fee_totals", "fees"): "open",
    }
    # the unallocated late/duplicate payment planted above has its refund pending: not a status mismatch

    # Rerun from WeChat's own bill: the fee difference is gone (cleared), the rest found again, no duplicates.
    await scalar(
        "UPDATE recon_mismatches SET status = 'resolved', note = '已核实：测试数据', resolved_by = 'finance:1' "
        "WHERE kind = 'amount_differs' RETURNING id"
    )
    second = await reconcile_day(today)
    assert second.status == "done" and sum(second.found.values()) == 5
    after = await open_mismatches()
    assert after[("fee_totals", "fees")] == "cleared" and after[("amount_differs", b)] == "resolved"
    assert len(after) == 6
    assert await scalar("SELECT note FROM recon_mismatches WHERE kind = 'amount_differs'") == "已核实：测试数据"

    # The recovery check credits c (its notify was lost): the next run no longer finds it.
    cid = await scalar("SELECT id FROM payment_intents WHERE out_trade_no = :c", c=c)
    async with unit_of_work() as s:
        await check_intent(s, {"intent_id": cid})
    third = await reconcile_day(today)
    assert (await open_mismatches())[("status_differs", c)] == "cleared"
    assert sum(third.found.values()) == 4
    del a_order


async def test_a_bill_with_a_wrong_hash_is_refused_whole(
    http: httpx.AsyncClient, shop_world: World, tmp_path: Path
) -> None:
    await pay_one(http, shop_world)
    path = tmp_path / "bill.csv"
    path.write_bytes(await sandbox_bill(http))
    today = clock.now_shanghai().date()
    result = await reconcile_day(today, bill_file=path, expected_sha1="0" * 40)
    assert result.status == "refused" and "SHA1" in (result.error or "")
    [run] = await rows("SELECT status, error, bill_rows FROM recon_runs")
    assert run.status == "refused" and run.bill_rows == 0
    assert await scalar("SELECT count(*) FROM recon_mismatches") == 0
    assert await scalar("SELECT count(*) FROM ledger_transactions WHERE kind = 'fees'") == 0


async def test_the_daily_job_reconciles_yesterday_and_schedules_tomorrow(
    http: httpx.AsyncClient, shop_world: World
) -> None:
    from payments.reconcile_day import ensure_daily_job, next_daily_run

    await pay_one(http, shop_world)
    async with unit_of_work() as s:
        await ensure_daily_job(s)
    first_at = next_daily_run()
    clock.advance((first_at - clock.now()) + timedelta(seconds=1))
    await run_jobs()
    day = (first_at - timedelta(days=1)).date()
    [run] = await rows("SELECT bill_date, status, triggered_by FROM recon_runs")
    assert (run.bill_date, run.status, run.triggered_by) == (day, "done", "daily job")
    nxt = await rows("SELECT run_at FROM jobs WHERE kind = 'payments.daily_reconcile' AND status = 'pending'")
    assert [r.run_at for r in nxt] == [first_at + timedelta(days=1)]
