"""Order → JSAPI intent → the sandbox's customer pays → signed, encrypted notify over HTTP → order paid, ledger posted."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.orders.factories import World, customer_headers
from tests.integration.payments.conftest import (
    add_fault,
    eventually,
    intent_status,
    ledger_ok,
    order_status,
    place,
    rows,
    sandbox_pay,
    scalar,
    set_sandbox,
    start,
)


async def test_order_is_paid_end_to_end_over_http(http: httpx.AsyncClient, shop_world: World) -> None:
    p = await place(shop_world, qty=2)
    me = customer_headers(shop_world.customer_id)
    r = await http.post("/api/payments", json={"order_id": p.public_id, "channel": "JSAPI"}, headers=me)
    assert r.status_code == 200, r.text
    started = r.json()
    params = started["jsapi_params"]
    assert started["amount_fen"] == p.total_fen == 2468
    assert params["package"].startswith("prepay_id=") and params["signType"] == "RSA" and params["paySign"]

    # The same order asked again reuses the prepay (a fresh paySign each time).
    again = (await http.post("/api/payments", json={"order_id": p.public_id}, headers=me)).json()
    assert again["out_trade_no"] == started["out_trade_no"] and again["reused"] is True

    # The customer's WeChat checks paySign and pays; the sandbox then posts the notify to our notify_url.
    paid = await http.post("/sandbox/api/pay/jsapi", json=params)
    assert paid.status_code == 200, paid.text

    async def order_paid() -> bool:
        return await order_status(p.order_id) == "paid"

    await eventually(order_paid, what="the order to be paid by the notify")
    out_trade_no = started["out_trade_no"]
    assert await intent_status(out_trade_no) == "paid"
    [intent] = await rows("SELECT * FROM payment_intents WHERE out_trade_no = :o", o=out_trade_no)
    assert (intent.paid_fen, intent.paid_via, intent.credit_outcome) == (2468, "notify", "credited")
    assert intent.transaction_id == paid.json()["transaction_id"]
    assert await scalar("SELECT payment_ref FROM orders WHERE id = :id", id=p.order_id) == out_trade_no

    entries = await rows(
        "SELECT e.account, e.debit_fen, e.credit_fen FROM ledger_entries e JOIN ledger_transactions t "
        "ON t.id = e.transaction_id WHERE t.ref = :ref ORDER BY e.id",
        ref=f"payment:{intent.id}",
    )
    assert [(e.account, e.debit_fen, e.credit_fen) for e in entries] == [
        ("wechat_clearing", 2468, 0),
        (f"store_revenue:{shop_world.store_id}", 0, 2468),
    ]
    [audit] = await rows(
        "SELECT verified, outcome, http_status FROM payment_notifies WHERE out_trade_no = :o", o=out_trade_no
    )
    assert tuple(audit) == (True, "credited", 204)

    status = (await http.get(f"/api/payments/{out_trade_no}", headers=me)).json()
    assert status["status"] == "paid"
    sandbox_view = (await http.get(f"/sandbox/api/pay/notifies?out_trade_no={out_trade_no}")).json()
    assert [n["status"] for n in sandbox_view] == ["delivered"]
    await ledger_ok()


async def test_native_payment_gives_a_qr_code(http: httpx.AsyncClient, shop_world: World) -> None:
    p = await place(shop_world)
    me = customer_headers(shop_world.customer_id)
    r = await http.post("/api/payments", json={"order_id": p.public_id, "channel": "NATIVE"}, headers=me)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["code_url"].startswith("weixin://wxpay/bizpayurl?pr=") and body["jsapi_params"] is None
    png = await http.get(body["qr_png_url"], headers=me)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    # Someone else's order is not found.
    other = await http.get(
        f"/api/payments/{body['out_trade_no']}", headers=customer_headers(shop_world.customer_id + 999)
    )
    assert other.status_code == 404


@pytest.mark.parametrize("fault", ["signtest", "tamper", "wrong_key", "stale_timestamp", "unknown_serial"])
async def test_sandbox_forgeries_are_refused_and_the_real_retry_credited(
    http: httpx.AsyncClient, shop_world: World, fault: str
) -> None:
    await set_sandbox(http, retry_time_factor=0.001)
    p = await place(shop_world)
    intent = await start(p.order_id)
    await add_fault(http, fault, out_trade_no=intent.out_trade_no, params={"attempts": 1})
    await sandbox_pay(http, intent.out_trade_no)

    async def order_paid() -> bool:
        return await order_status(p.order_id) == "paid"

    await eventually(order_paid, what="WeChat's retry after the forged attempt")
    audit = [
        (r.outcome, r.http_status) for r in await rows("SELECT outcome, http_status FROM payment_notifies ORDER BY id")
    ]
    assert audit[0][0] == "rejected" and audit[0][1] in (400, 401) and audit[-1] == ("credited", 204)
    assert await scalar("SELECT count(*) FROM ledger_transactions") == 1
    await ledger_ok()
