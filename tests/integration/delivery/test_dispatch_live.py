"""Over real HTTP with the WeChat sandbox: an urgent order paid through WeChat Pay reaches the nearest stores'
staff on WeCom and in the console (SSE), one claims, delivers with the code, the customer sees each stage;
and when nobody can, payments refunds it in full."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from core.auth import issue_token
from core.jobs import run_due_jobs
from delivery.live import drain
from delivery.settings import override_dispatch_settings
from tests.integration.delivery.city import (
    BASE_LAT,
    BASE_LNG,
    City,
    build_city,
    dispatch_row,
    eventually,
    handoff_code,
    offers,
    rows,
    scalar,
)

pytestmark = pytest.mark.full_stack


async def pay_urgent_order(http: httpx.AsyncClient, city: City, key: str) -> tuple[int, str, dict[str, str]]:
    me = {"Authorization": f"Bearer {issue_token('customer', city.customer_id, 'customer')}"}
    body = {
        "store_id": city.origin,
        "kind": "urgent",
        "lines": [{"sku_id": city.sku_id, "qty": 2}],
        "address": {
            "contact_name": "王五",
            "phone": "13700000000",
            "address": "人民大道 1 号",
            "lat": BASE_LAT,
            "lng": BASE_LNG,
        },
    }
    r = await http.post("/api/orders/", json=body, headers={**me, "Idempotency-Key": key})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    started = await http.post("/api/payments", json={"order_id": pid, "channel": "JSAPI"}, headers=me)
    assert started.status_code == 200, started.text
    paid = await http.post("/sandbox/api/pay/jsapi", json=started.json()["jsapi_params"])
    assert paid.status_code == 200, paid.text
    order_id = int(await scalar("SELECT id FROM orders WHERE public_id = :p", p=pid))  # type: ignore[arg-type]

    async def dispatched() -> bool:
        return await scalar("SELECT count(*) FROM dispatches WHERE order_id = :o", o=order_id) == 1

    await eventually(dispatched, what="the notify to mark the order paid and open its dispatch")
    return order_id, pid, me


async def wecom_messages(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    return (await http.get("/sandbox/api/wecom/messages")).json()


async def usernames(city: City, store_ids: list[int]) -> set[str]:
    ids = [city.staff[s][0] for s in store_ids]
    return {r[0] for r in await rows("SELECT username FROM users WHERE id = ANY(CAST(:ids AS bigint[]))", ids=ids)}


async def test_paid_in_the_sandbox_offered_on_wecom_claimed_and_delivered(http: httpx.AsyncClient) -> None:
    override_dispatch_settings(notify_staff=True)
    city = await build_city()
    order_id, pid, me = await pay_urgent_order(http, city, "live-order-0001")
    view = (await http.get(f"/api/orders/{pid}/dispatch", headers=me)).json()
    assert view["stage"] == "finding_store" and len(view["handoff_code"]) >= 4

    await run_due_jobs()  # the first decision: ring 1
    await run_due_jobs()  # the outbox: WeCom cards
    ring1 = await offers(order_id)
    cards = [m for m in await wecom_messages(http) if m["msgtype"] == "textcard"]
    number = await scalar("SELECT number FROM orders WHERE id = :o", o=order_id)
    assert {m["touser"] for m in cards} == await usernames(city, city.stores[:3])
    assert all(m["content"]["title"] == f"急送订单待接单 {number}" for m in cards)
    assert all(m["content"]["btntxt"] == "接单" and "?offer=" in m["content"]["url"] for m in cards)

    r = await http.post(f"/api/staff/offers/{ring1[1].id}/claim", headers=city.staff[city.stores[1]][1])
    assert r.status_code == 200, r.text
    await run_due_jobs()
    withdrawn = [m for m in await wecom_messages(http) if m["content"]["title"].startswith("急送订单已撤回")]
    assert {m["touser"] for m in withdrawn} == await usernames(city, [city.stores[0], city.stores[2]])
    # the money moved from HQ clearing to the claiming store
    moved = await rows(
        "SELECT e.account, e.debit_fen, e.credit_fen FROM ledger_entries e JOIN ledger_transactions t "
        "ON t.id = e.transaction_id WHERE t.order_id = :o AND t.kind = 'dispatch_transfer' ORDER BY e.id",
        o=order_id,
    )
    assert moved and moved[0].account == "hq_clearing"
    assert {e.account for e in moved[1:]} <= {f"store_revenue:{city.stores[1]}", f"delivery_income:{city.stores[1]}"}

    stages = ["accepted"]
    stages.append((await http.get(f"/api/orders/{pid}/dispatch", headers=me)).json()["stage"])
    base = f"/api/staff/dispatches/{pid}"
    claimer = city.staff[city.stores[1]][1]
    for stage in ("preparing", "out_for_delivery"):
        assert (await http.post(f"{base}/stage", json={"stage": stage}, headers=claimer)).status_code == 200
        stages.append((await http.get(f"/api/orders/{pid}/dispatch", headers=me)).json()["stage"])
    r = await http.post(f"{base}/deliver", json={"handoff_code": await handoff_code(order_id)}, headers=claimer)
    assert r.status_code == 200, r.text
    final = (await http.get(f"/api/orders/{pid}/dispatch", headers=me)).json()
    stages.append(final["stage"])
    assert stages == ["accepted", "accepted", "preparing", "out_for_delivery", "delivered"]
    assert final["store_name"] and final["stages"]["delivered_at"]
    assert (await dispatch_row(order_id)).status == "delivered"


async def test_nobody_can_deliver_refund_in_full_through_payments(http: httpx.AsyncClient) -> None:
    city = await build_city(distances=(400,))
    order_id, pid, me = await pay_urgent_order(http, city, "live-order-0002")
    await run_due_jobs()
    [offer] = await offers(order_id)
    r = await http.post(
        f"/api/staff/offers/{offer.id}/decline", json={"reason": "药品缺货"}, headers=city.staff[city.origin][1]
    )
    assert r.status_code == 200 and r.json()["next_step"] == "failed"
    paid = await scalar("SELECT paid_fen FROM orders WHERE id = :o", o=order_id)
    [refund] = await rows("SELECT amount_fen, ref, status FROM payment_refunds WHERE payable_id = :o", o=order_id)
    assert (refund.amount_fen, refund.ref) == (paid, f"cancel:{order_id}")
    view = (await http.get(f"/api/orders/{pid}/dispatch", headers=me)).json()
    assert view["stage"] == "cancelled" and view["handoff_code"] is None


async def test_console_gets_offers_live_over_sse(live_app: str) -> None:
    city = await build_city()
    headers = city.staff[city.stores[0]][1]
    events: list[tuple[str, dict[str, Any]]] = []
    ready = asyncio.Event()

    async def listen() -> None:
        async with httpx.AsyncClient(base_url=live_app, timeout=20) as c:
            async with c.stream("GET", "/api/staff/offers/stream", headers=headers) as r:
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
                kind = None
                async for line in r.aiter_lines():
                    if line.startswith("event:"):
                        kind = line.split(":", 1)[1].strip()
                    elif line.startswith("data:") and kind:
                        events.append((kind, json.loads(line.split(":", 1)[1])))
                        if kind == "hello":
                            ready.set()
                        if kind == "offer":
                            return

    task = asyncio.create_task(listen())
    await asyncio.wait_for(ready.wait(), 10)
    from tests.integration.delivery.city import paid_urgent_order

    order_id = await paid_urgent_order(city)
    await drain()
    await asyncio.wait_for(task, 10)
    kind, offer = events[-1]
    assert kind == "offer" and offer["store_id"] == city.stores[0]
    assert offer["offer_id"] == (await offers(order_id))[0].id and offer["deadline_at"]
    async with httpx.AsyncClient(base_url=live_app) as c:
        r = await c.get("/api/staff/offers/stream", headers=headers, params={"store_id": city.stores[4]})
        assert r.status_code == 403
