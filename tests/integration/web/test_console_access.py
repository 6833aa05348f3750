"""Who sees what on the consoles: staff only their stores' orders and stock (phones masked), finance pages and
API only for finance/admin, admin screens only for admins; the finance page draws its charts from the data."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from core import clock
from core.auth import COOKIE
from core.db import unit_of_work
from orders.queries import find_order
from orders.services import mark_paid
from tests.integration.orders.factories import World, customer_headers, staff_user, world


def sign_in(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    client.cookies.set(COOKIE, headers["Authorization"].split()[1])


async def paid_delivery_order(client: httpx.AsyncClient, w: World, phone: str, key: str) -> dict[str, Any]:
    async with unit_of_work() as s:
        lat, lng = (await s.execute(text("SELECT lat, lng FROM stores WHERE id = :s"), {"s": w.store_id})).one()
    body = {
        "store_id": w.store_id,
        "kind": "delivery",
        "lines": [{"sku_id": w.sku_id, "qty": 1}],
        "address": {"contact_name": "王五", "phone": phone, "address": "外滩 1 号", "lat": lat, "lng": lng},
    }
    r = await client.post(
        "/api/orders/", json=body, headers={**customer_headers(w.customer_id), "Idempotency-Key": key}
    )
    assert r.status_code == 201, r.text
    placed = dict(r.json())
    async with unit_of_work() as s:
        order = await find_order(s, placed["id"])
        await mark_paid(s, order.id, f"wx-{order.id}", clock.now())
    return placed


async def test_staff_see_only_their_stores_orders_and_stock_with_phones_masked(client: httpx.AsyncClient) -> None:
    a, b = await world(price_fen=1200), await world(price_fen=3400)
    mine = await paid_delivery_order(client, a, "13812341234", "access-a")
    theirs = await paid_delivery_order(client, b, "13955556666", "access-b")
    _, clerk = await staff_user("clerka", stores=[a.store_id])
    sign_in(client, clerk)

    r = await client.get("/staff")
    assert r.status_code == 200
    assert f"#{mine['number']}" in r.text and f"#{theirs['number']}" not in r.text
    assert "138****1234" in r.text and "13812341234" not in r.text and "139****6666" not in r.text
    for stage in ("active", "done", "cancel_requests", "bogus"):
        assert f"#{theirs['number']}" not in (await client.get(f"/staff?stage={stage}")).text

    r = await client.get("/staff/stock")
    assert r.status_code == 200 and f'data-store="{a.store_id}"' in r.text and f'data-sku="{a.sku_id}"' in r.text
    r = await client.get(f"/staff/stock?store={b.store_id}")
    assert r.status_code == 403 and "你不在这家门店工作" in r.text and f'data-sku="{b.sku_id}"' not in r.text
    r = await client.post(
        f"/api/admin/stores/{b.store_id}/stock/{b.sku_id}/adjustments", json={"delta": -1, "reason": "x"}
    )
    assert r.status_code == 403
    r = await client.post(f"/api/staff/stores/{b.store_id}/urgent-busy", json={"busy": True})
    assert r.status_code in (403, 404)

    r = await client.get("/staff/member")
    assert r.status_code == 200 and 'data-api="/api/staff/stores/{store_id}/member-code/verify"' in r.text


async def test_finance_console_and_api_refuse_staff_and_chart_the_days(client: httpx.AsyncClient) -> None:
    w = await world(price_fen=1500)
    await paid_delivery_order(client, w, "13700000000", "finance-1")
    _, clerk = await staff_user("clerkf", stores=[w.store_id])
    sign_in(client, clerk)
    assert "当前账号不是财务" in (await client.get("/finance")).text
    for url in ("/api/finance/summary", "/api/finance/mismatches", "/api/finance/exports/payments?fmt=csv"):
        assert (await client.get(url)).status_code == 403, url
    r = await client.post("/api/finance/mismatches/1/resolve", json={"note": "x"})
    assert r.status_code == 403
    assert "当前账号不是管理员" in (await client.get("/admin")).text

    _, fin = await staff_user("finf", role="finance")
    sign_in(client, fin)
    r = await client.get("/finance?days=7")
    assert r.status_code == 200 and 'id="login"' not in r.text
    assert "暂无趋势图" in r.text  # no WeChat money moved in these days: no empty chart either
    assert 'id="reconcile"' in r.text and "这段时间还没有交易" in r.text  # no WeChat payment (paid in the test)
    assert "没有失败或异常的退款" in r.text and "还没有结算单" in r.text and "这段时间没有急送订单" in r.text
    assert "当前账号不是管理员" in (await client.get("/admin")).text  # finance is not HQ admin
    assert 'id="login"' in (await client.get("/staff")).text  # nor store staff

    r = await client.post("/api/finance/mismatches/999999/resolve", json={"note": "  "})
    assert r.status_code == 400  # an empty note is refused before anything is looked up


async def test_admin_screens_search_and_paginate(client: httpx.AsyncClient) -> None:
    worlds = [await world() for _ in range(3)]
    async with unit_of_work() as s:
        await s.execute(text("UPDATE stores SET name = '静安寺店' WHERE id = :s"), {"s": worlds[1].store_id})
        await s.execute(
            text("UPDATE products SET title = '维生素C泡腾片' WHERE id = (SELECT product_id FROM skus WHERE id = :k)"),
            {"k": worlds[2].sku_id},
        )
    _, admin = await staff_user("bossx", role="admin")
    sign_in(client, admin)
    r = await client.get("/admin")
    assert r.status_code == 200 and r.text.count("data-store=") == 3 and "周一" in r.text
    r = await client.get("/admin?tab=stores&q=静安")
    assert r.text.count("data-store=") == 1 and "静安寺店" in r.text
    r = await client.get("/admin?tab=stores&q=不存在的店")
    assert "没有找到“不存在的店”" in r.text
    r = await client.get("/admin?tab=catalogue&q=泡腾")
    assert r.text.count("data-sku=") == 1 and "维生素C泡腾片" in r.text and 'value="10.00"' in r.text
    r = await client.get("/admin?tab=menu")
    assert r.status_code == 200 and "还没有菜单" in r.text
    r = await client.get("/admin?tab=nonsense&page=-5")
    assert r.status_code == 200 and "门店与营业时间" in r.text
    for tab in ("coupons", "members"):
        r = await client.get(f"/admin?tab={tab}")
        assert r.status_code == 200 and f'id="{tab}-section"' in r.text
