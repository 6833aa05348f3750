"""Finance API over HTTP: only finance and admin; summary and charts; reconciliation runs; the mismatch queue;
refunds; settlement statements draft → confirmed → paid on the ledger; CSV and XLSX exports with Chinese headers."""

from __future__ import annotations

import io
from datetime import timedelta

import httpx
from openpyxl import load_workbook

from core import clock
from core.auth import issue_token
from core.db import unit_of_work
from payments.request_refund import request_refund
from tests.integration.orders.factories import World, customer_headers, staff_user
from tests.integration.payments.conftest import (
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


async def pay(http: httpx.AsyncClient, w: World, qty: int = 1) -> int:
    p = await place(w, qty)
    intent = await start(p.order_id)
    await sandbox_pay(http, intent.out_trade_no)

    async def paid() -> bool:
        return await order_status(p.order_id) == "paid"

    await eventually(paid, what="the notify")
    return p.order_id


async def test_only_finance_and_admin_may_look(http: httpx.AsyncClient, shop_world: World) -> None:
    _, staff = await staff_user("staff1", "staff", [shop_world.store_id])
    _, finance = await staff_user("fin1", "finance")
    _, admin = await staff_user("admin1", "admin")
    assert (await http.get("/api/finance/summary")).status_code == 401
    assert (await http.get("/api/finance/summary", headers=customer_headers(shop_world.customer_id))).status_code == 403
    assert (await http.get("/api/finance/summary", headers=staff)).status_code == 403
    assert (await http.get("/api/finance/summary", headers=finance)).status_code == 200
    assert (await http.get("/api/finance/ledger/check", headers=admin)).json()["ok"] is True


async def test_a_finance_day(http: httpx.AsyncClient, shop_world: World) -> None:
    await set_sandbox(http, refund_delay_seconds=0)
    _, fin = await staff_user("fin2", "finance")
    first = await pay(http, shop_world, qty=2)  # 2468
    await pay(http, shop_world)  # 1234
    async with unit_of_work() as s:
        await request_refund(s, first, 468, "部分退款", "fin:1")
    await run_jobs()

    async def refunded() -> bool:
        return [r.status for r in await refunds_of(first)] == ["success"]

    await eventually(refunded, what="the refund")
    today = clock.now_shanghai().date()
    r = await http.post("/api/finance/reconciliation", json={"day": today.isoformat()}, headers=fin)
    assert r.status_code == 202
    await run_jobs()
    runs = (await http.get("/api/finance/reconciliation", headers=fin)).json()
    assert runs[0]["status"] == "done" and runs[0]["mismatches"] == 0 and runs[0]["bill_paid_fen"] == 3702

    summary = (await http.get(f"/api/finance/summary?start={today}&end={today}", headers=fin)).json()
    [day] = summary["days"]
    fees = (2468 * 60 + 5000) // 10000 + (1234 * 60 + 5000) // 10000 - (468 * 60 + 5000) // 10000
    assert (day["payments"], day["gmv_fen"], day["paid_fen"], day["refunded_fen"], day["fees_fen"]) == (
        2,
        3702,
        3702,
        468,
        fees,
    )
    assert day["net_fen"] == 3702 - 468 - fees and day["reconciliation"] == "done"
    chart = (
        await http.get(f"/api/finance/charts/daily?start={today - timedelta(days=6)}&end={today}", headers=fin)
    ).json()
    assert len(chart["days"]) == 7 and chart["paid_fen"][-1] == 3702

    # A planted difference lands in the queue; finance resolves it with a note.
    await scalar("UPDATE payment_intents SET paid_fen = paid_fen + 1 WHERE payable_id = :o RETURNING id", o=first)
    await http.post("/api/finance/reconciliation", json={"day": today.isoformat()}, headers=fin)
    await run_jobs()
    [m] = (await http.get("/api/finance/mismatches", headers=fin)).json()
    assert m["kind"] == "amount_differs" and m["bill_amount_fen"] == 2468 and m["local_amount_fen"] == 2469
    bad = await http.post(f"/api/finance/mismatches/{m['id']}/resolve", json={"note": " "}, headers=fin)
    assert bad.status_code == 400
    ok = await http.post(f"/api/finance/mismatches/{m['id']}/resolve", json={"note": "录入错误，已更正"}, headers=fin)
    assert ok.json()["status"] == "resolved" and ok.json()["note"] == "录入错误，已更正"
    assert (await http.get("/api/finance/mismatches", headers=fin)).json() == []
    await scalar("UPDATE payment_intents SET paid_fen = paid_fen - 1 WHERE payable_id = :o RETURNING id", o=first)

    csv = await http.get(f"/api/finance/exports/summary?start={today}&end={today}", headers=fin)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("日期,支付笔数,成交总额(元)") and lines[1].startswith(f"{today},2,37.02,37.02,4.68,")
    xlsx = await http.get(f"/api/finance/exports/mismatches?fmt=xlsx&start={today}&end={today}", headers=fin)
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    table = list(sheet.iter_rows(values_only=True))
    assert (
        table[0][:3] == ("账单日期", "差异类型", "单号")
        and table[1][1] == "金额不符"
        and table[1][9] == "录入错误，已更正"
    )
    for report in ("payments", "refunds", "settlements"):
        for fmt in ("csv", "xlsx"):
            got = await http.get(f"/api/finance/exports/{report}?fmt={fmt}&start={today}&end={today}", headers=fin)
            assert got.status_code == 200, (report, fmt, got.text[:200])
    assert (await http.get("/api/finance/exports/nope", headers=fin)).status_code == 404
    await ledger_ok()


async def test_settlement_statement_from_the_ledger(http: httpx.AsyncClient, shop_world: World) -> None:
    await set_sandbox(http, refund_delay_seconds=0)
    first = await pay(http, shop_world, qty=4)  # 4936
    await pay(http, shop_world)  # 1234
    async with unit_of_work() as s:
        await request_refund(s, first, 936, "退一部分", "settle:1")
    await run_jobs()

    async def refunded() -> bool:
        return [r.status for r in await refunds_of(first)] == ["success"]

    await eventually(refunded, what="the refund")
    day = clock.now_shanghai().date()
    # Statements cover finished days. (A token issued after moving the clock has an `iat` in the real
    # future, which PyJWT refuses; so this one is issued now and lives long enough.)
    user_id, _ = await staff_user("fin3", "finance")
    fin = {"Authorization": f"Bearer {issue_token('user', user_id, 'finance', ttl=timedelta(days=3))}"}
    clock.advance(timedelta(days=1))
    store = shop_world.store_id
    assert (await http.get(f"/api/finance/settlement-terms/{store}", headers=fin)).json()["commission_bp"] == 500
    await http.put(f"/api/finance/settlement-terms/{store}", json={"commission_bp": 1000}, headers=fin)
    period = {"store_id": store, "period_start": day.isoformat(), "period_end": day.isoformat()}
    draft = (await http.post("/api/finance/settlements", json=period, headers=fin)).json()
    assert (draft["status"], draft["sales_fen"], draft["refunds_fen"], draft["delivery_income_fen"]) == (
        "draft",
        6170,
        936,
        0,
    )
    assert draft["commission_fen"] == (6170 - 936) // 10 and draft["net_payable_fen"] == 6170 - 936 - 523
    confirmed = (await http.post(f"/api/finance/settlements/{draft['id']}/confirm", headers=fin)).json()
    assert confirmed["status"] == "confirmed"
    again = await http.post("/api/finance/settlements", json=period, headers=fin)
    assert again.status_code == 409
    paid = await http.post(f"/api/finance/settlements/{draft['id']}/pay", json={"payout_ref": "BANK-001"}, headers=fin)
    assert paid.json()["status"] == "paid" and paid.json()["payout_ref"] == "BANK-001"
    balances = {
        r.account: r.balance
        for r in await rows(
            "SELECT account, sum(credit_fen - debit_fen) AS balance FROM ledger_entries GROUP BY account"
        )
    }
    assert balances[f"store_revenue:{store}"] == 0 and balances[f"refunds:{store}"] == 0
    assert balances[f"store_payable:{store}"] == 0 and balances["hq_commission"] == 523
    assert balances["bank"] == 6170 - 936 - 523  # paid out of the bank (a credit)
    await ledger_ok()
