"""The HTTP API end to end: a customer orders from the cart, staff move it along, admins see everything."""

from __future__ import annotations

from httpx import AsyncClient

from core import clock
from core.db import unit_of_work
from orders.mark_paid import mark_paid
from tests.integration.orders.factories import (
    count,
    customer_headers,
    list_sku,
    make_customer,
    make_store,
    staff_user,
    world,
)


async def pay(order_public_id: str) -> None:
    async with unit_of_work() as s:
        from orders.queries import find_order

        order = await find_order(s, order_public_id)
        await mark_paid(s, order.id, f"wx-{order.id}", clock.now())


async def test_customer_cart_quote_order_cancel(client: AsyncClient) -> None:
    w = await world(price_fen=1200, stock=9)
    me = customer_headers(w.customer_id)
    r = await client.put(f"/api/cart/{w.store_id}/items/{w.sku_id}", json={"qty": 3}, headers=me)
    assert r.status_code == 200 and r.json()["items_fen"] == 3600
    r = await client.get(f"/api/cart/{w.store_id}", headers=me)
    assert [(x["sku_id"], x["qty"], x["price_changed"]) for x in r.json()["items"]] == [(w.sku_id, 3, False)]
    q = await client.post("/api/orders/quote", json={"store_id": w.store_id, "kind": "pickup"}, headers=me)
    assert q.status_code == 200, q.text
    assert (q.json()["total_fen"], q.json()["promise_minutes"]) == (3600, 15)
    placed = await client.post(
        "/api/orders",
        json={"store_id": w.store_id, "kind": "pickup", "expected_total_fen": 3600},
        headers={**me, "Idempotency-Key": "api-cart-order-1"},
    )
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert (order["status"], order["total_fen"], order["cash_due_fen"]) == ("created", 3600, 3600)
    assert (await client.get(f"/api/cart/{w.store_id}", headers=me)).json()["items"] == []
    detail = (await client.get(f"/api/orders/{order['id']}", headers=me)).json()
    assert detail["number"] == order["number"] and len(detail["handoff_code"]) == 4
    assert [x["to_status"] for x in detail["timeline"]] == ["created"]
    assert [(x["sku_id"], x["qty"], x["line_fen"]) for x in detail["lines"]] == [(w.sku_id, 3, 3600)]
    r = await client.post(f"/api/orders/{order['id']}/cancel", json={"reason": "不要了"}, headers=me)
    assert r.json() == {"id": order["id"], "outcome": "cancelled", "status": "cancelled", "refund_due_fen": 0}
    assert await count("SELECT reserved FROM stock_levels") == 0


async def test_customers_see_only_their_orders_paginated(client: AsyncClient) -> None:
    w = await world(stock=50)
    me = customer_headers(w.customer_id)
    body = {"store_id": w.store_id, "kind": "pickup", "lines": [{"sku_id": w.sku_id, "qty": 1}]}
    ids = []
    for i in range(5):
        r = await client.post("/api/orders", json=body, headers={**me, "Idempotency-Key": f"page-test-{i:03d}"})
        ids.append(r.json()["id"])
    page = (await client.get("/api/orders?page=1&page_size=2", headers=me)).json()
    assert page["total"] == 5 and [x["id"] for x in page["items"]] == ids[::-1][:2]
    page3 = (await client.get("/api/orders?page=3&page_size=2", headers=me)).json()
    assert [x["id"] for x in page3["items"]] == [ids[0]]
    assert (await client.get("/api/orders?page=0", headers=me)).status_code == 400
    async with unit_of_work() as s:
        other = await make_customer(s, w.account_id)
    them = customer_headers(other)
    assert (await client.get("/api/orders", headers=them)).json()["total"] == 0
    assert (await client.get(f"/api/orders/{ids[0]}", headers=them)).status_code == 404
    assert (await client.post(f"/api/orders/{ids[0]}/cancel", json={}, headers=them)).status_code == 404
    assert (await client.get(f"/api/orders/{ids[0]}")).status_code == 401
    _, staff = await staff_user("clerk1", stores=[w.store_id])
    assert (await client.get("/api/orders", headers=staff)).status_code == 403


async def test_staff_work_their_stores_orders_only(client: AsyncClient) -> None:
    w = await world(stock=20)
    async with unit_of_work() as s:
        store_b = await make_store(s)
        await list_sku(s, store_b, w.sku_id, stock=20)
    me = customer_headers(w.customer_id)
    a = (
        await client.post(
            "/api/orders",
            json={"store_id": w.store_id, "kind": "pickup", "lines": [{"sku_id": w.sku_id, "qty": 2}]},
            headers={**me, "Idempotency-Key": "staff-test-a"},
        )
    ).json()
    b = (
        await client.post(
            "/api/orders",
            json={"store_id": store_b, "kind": "pickup", "lines": [{"sku_id": w.sku_id, "qty": 1}]},
            headers={**me, "Idempotency-Key": "staff-test-b"},
        )
    ).json()
    await pay(a["id"])
    await pay(b["id"])
    _, clerk = await staff_user("clerk-a", stores=[w.store_id])
    new = (await client.get("/api/staff/orders?stage=new", headers=clerk)).json()
    assert [x["id"] for x in new["items"]] == [a["id"]]
    assert (await client.get(f"/api/staff/orders/{b['id']}", headers=clerk)).status_code == 404
    r = await client.post(f"/api/staff/orders/{b['id']}/transition", json={"to": "preparing"}, headers=clerk)
    assert r.status_code == 404
    assert (await client.get(f"/api/staff/orders?store_id={store_b}", headers=clerk)).status_code == 403
    for to in ("preparing", "ready"):
        r = await client.post(f"/api/staff/orders/{a['id']}/transition", json={"to": to}, headers=clerk)
        assert r.status_code == 200 and r.json()["status"] == to
    r = await client.post(
        f"/api/staff/orders/{a['id']}/transition", json={"to": "picked_up", "handoff_code": "x"}, headers=clerk
    )
    assert r.status_code == 422 and "handoff code" in r.json()["detail"]
    r = await client.post(f"/api/staff/orders/{a['id']}/transition", json={"to": "delivered"}, headers=clerk)
    assert r.status_code in (409, 422)
    code = (await client.get(f"/api/orders/{a['id']}", headers=me)).json()["handoff_code"]
    r = await client.post(
        f"/api/staff/orders/{a['id']}/transition", json={"to": "picked_up", "handoff_code": code}, headers=clerk
    )
    assert r.status_code == 200 and r.json()["status"] == "picked_up"
    assert r.json()["allowed_next"] == ["completed"] and r.json()["handoff_code"] is None
    r = await client.post(f"/api/staff/orders/{a['id']}/transition", json={"to": "preparing"}, headers=clerk)
    assert r.status_code == 409 and "cannot go from picked_up to preparing" in r.json()["detail"]
    # after-sales through the API
    r = await client.post(
        f"/api/orders/{a['id']}/refunds",
        json={"reason": "少了一盒", "lines": [{"sku_id": w.sku_id, "qty": 1}]},
        headers=me,
    )
    assert r.status_code == 201 and r.json()["amount_fen"] == 1000
    refund_id = r.json()["id"]
    listed = (await client.get("/api/staff/refunds", headers=clerk)).json()
    assert [x["id"] for x in listed["items"]] == [refund_id]
    _, clerk_b = await staff_user("clerk-b", stores=[store_b])
    r = await client.post(f"/api/staff/refunds/{refund_id}/decision", json={"approve": True}, headers=clerk_b)
    assert r.status_code == 404
    r = await client.post(f"/api/staff/refunds/{refund_id}/decision", json={"approve": True}, headers=clerk)
    assert r.status_code == 200 and r.json()["status"] == "approved"


async def test_admin_sees_all_and_sets_store_order_settings(client: AsyncClient) -> None:
    w = await world(stock=20)
    me = customer_headers(w.customer_id)
    _, admin = await staff_user("boss", role="admin")
    _, finance = await staff_user("money", role="finance")
    r = await client.put(
        f"/api/admin/stores/{w.store_id}/order-settings",
        json={"payment_deadline_min": 30, "auto_complete_days": 5},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    r = await client.put(
        f"/api/admin/stores/{w.store_id}/order-settings",
        json={"payment_deadline_min": 0, "auto_complete_days": 5},
        headers=admin,
    )
    assert r.status_code == 400
    assert (
        await client.put(
            f"/api/admin/stores/{w.store_id}/order-settings",
            json={"payment_deadline_min": 20, "auto_complete_days": 5},
            headers=finance,
        )
    ).status_code == 403
    placed = (
        await client.post(
            "/api/orders",
            json={"store_id": w.store_id, "kind": "pickup", "lines": [{"sku_id": w.sku_id, "qty": 1}]},
            headers={**me, "Idempotency-Key": "admin-test-1"},
        )
    ).json()
    from datetime import datetime

    deadline = datetime.fromisoformat(placed["payment_deadline_at"])
    assert 29 * 60 < (deadline - clock.now()).total_seconds() <= 30 * 60
    for who in (admin, finance):
        page = (await client.get(f"/api/admin/orders?store_id={w.store_id}&status=created", headers=who)).json()
        assert [x["id"] for x in page["items"]] == [placed["id"]]
    r = await client.get(f"/api/admin/orders?number={placed['number'][:6]}", headers=admin)
    assert r.json()["total"] == 1
    assert (await client.get("/api/admin/orders?status=bogus", headers=admin)).status_code == 400
    detail = (await client.get(f"/api/admin/orders/{placed['id']}", headers=finance)).json()
    assert detail["allowed_next"] == ["paid", "cancelled"]
    _, clerk = await staff_user("clerk-x", stores=[w.store_id])
    assert (await client.get("/api/admin/orders", headers=clerk)).status_code == 403


async def test_urgent_orders_are_moved_only_through_dispatch(client: AsyncClient) -> None:
    from sqlalchemy import text

    from orders.checkout import AddressIn, CheckoutRequest, LineIn
    from orders.place_order import place_order
    from tests.integration.orders.factories import north

    w = await world(stock=5)
    lat, lng = north(800)
    req = CheckoutRequest(
        store_id=w.store_id,
        kind="urgent",
        lines=[LineIn(w.sku_id, 1)],
        address=AddressIn("李四", "13900000000", "南京东路 100 号", lat, lng),
    )
    async with unit_of_work() as s:
        placed = await place_order(s, w.customer_id, req, "urgent-via-dispatch-1")
        public_id = (
            await s.execute(text("SELECT public_id FROM orders WHERE id = :i"), {"i": placed.order_id})
        ).scalar_one()
    await pay(public_id)
    _, clerk = await staff_user("clerk-u", stores=[w.store_id])
    me = customer_headers(w.customer_id)
    code = (await client.get(f"/api/orders/{public_id}", headers=me)).json()["handoff_code"]
    assert len(code) == 4 and code.isdigit()
    for to, extra in (("accepted", {"fulfil_store_id": w.store_id}), ("delivered", {"handoff_code": code})):
        r = await client.post(f"/api/staff/orders/{public_id}/transition", json={"to": to, **extra}, headers=clerk)
        assert r.status_code == 400 and "/api/staff/dispatches/" in r.json()["detail"]
    assert (
        await count(
            "SELECT count(*) FROM order_events WHERE order_id = :i AND to_status IN ('accepted', 'delivered')",
            i=placed.order_id,
        )
        == 0
    )
