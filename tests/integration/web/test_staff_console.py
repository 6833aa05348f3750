"""The staff console: a sign-in form when signed out, the staff member's stores and their orders by stage."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from core import clock
from core.auth import COOKIE, issue_token
from core.db import unit_of_work
from orders.queries import find_order
from orders.services import mark_paid
from tests.integration.orders.factories import customer_headers, make_store, staff_user, world


async def test_signed_out_sees_the_sign_in_form(client: httpx.AsyncClient) -> None:
    r = await client.get("/staff")
    assert r.status_code == 200 and 'id="login"' in r.text and "员工登录" in r.text
    # A customer's session is not a staff one.
    client.cookies.set(COOKIE, issue_token("customer", 1, "customer"))
    r = await client.get("/staff")
    assert 'id="login"' in r.text and "当前账号不是门店员工" in r.text


async def test_staff_sign_in_then_see_their_stores_orders_by_stage(client: httpx.AsyncClient) -> None:
    w = await world(price_fen=1250)
    async with unit_of_work() as s:
        other = await make_store(s)
        name = await s.scalar(text("SELECT name FROM stores WHERE id = :s"), {"s": w.store_id})
        other_name = await s.scalar(text("SELECT name FROM stores WHERE id = :s"), {"s": other})
    await staff_user("clerk1", stores=[w.store_id])
    me = customer_headers(w.customer_id)
    r = await client.put(f"/api/cart/{w.store_id}/items/{w.sku_id}", json={"qty": 2}, headers=me)
    assert r.status_code == 200, r.text
    r = await client.post(
        "/api/orders/",
        json={"store_id": w.store_id, "kind": "pickup"},
        headers={**me, "Idempotency-Key": "staff-order-1"},
    )
    assert r.status_code == 201, r.text
    placed = r.json()
    async with unit_of_work() as s:
        order = await find_order(s, placed["id"])
        await mark_paid(s, order.id, f"wx-{order.id}", clock.now())

    r = await client.post("/api/auth/login", json={"username": "clerk1", "password": "correct horse"})
    assert r.status_code == 200, r.text  # the session cookie is set on the client
    r = await client.get("/staff")
    assert r.status_code == 200, r.text
    assert name in r.text and other_name not in r.text
    assert f"#{placed['number']}" in r.text and "已支付" in r.text and "¥25.00" in r.text
    assert 'data-to="preparing"' in r.text and "开始备货" in r.text  # the next step the orders domain allows

    r = await client.post(f"/api/staff/orders/{placed['id']}/transition", json={"to": "preparing"})
    assert r.status_code == 200, r.text
    r = await client.get("/staff")
    assert f"#{placed['number']}" not in r.text and "这里暂时没有订单" in r.text
    r = await client.get("/staff?stage=active")
    assert f"#{placed['number']}" in r.text and "备货中" in r.text and 'data-to="ready"' in r.text
