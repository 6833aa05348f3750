"""Customer H5 pages render the shop's and orders' data for the signed-in customer; signed-out visitors go to OAuth."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import text

from core.auth import COOKIE, issue_token
from core.db import unit_of_work
from tests.integration.orders.factories import list_sku, make_customer, make_sku, make_store, world


def sign_in(client: httpx.AsyncClient, customer_id: int) -> None:
    client.cookies.set(COOKIE, issue_token("customer", customer_id, "customer"))


async def test_signed_out_visitors_are_sent_to_wechat_sign_in(client: httpx.AsyncClient) -> None:
    for path, nxt in [("/", "%2F"), ("/cart?store=3", "%2Fcart%3Fstore%3D3"), ("/orders", "%2Forders")]:
        r = await client.get(path)
        assert r.status_code == 302, (path, r.text)
        assert r.headers["location"] == f"/auth/wechat?next={nxt}"
    r = await client.get("/orders/abc")
    assert r.status_code == 302 and r.headers["location"].startswith("/auth/wechat?next=%2Forders%2Fabc")


async def test_storefront_shows_the_store_its_products_and_prices(client: httpx.AsyncClient) -> None:
    w = await world(price_fen=1250)
    async with unit_of_work() as s:
        await s.execute(
            text("UPDATE products SET title = '矿泉水' WHERE id = (SELECT product_id FROM skus WHERE id = :k)"),
            {"k": w.sku_id},
        )
        other = await make_store(s)
        sku2 = await make_sku(s, price_fen=399, title="维生素C")
        await list_sku(s, other, sku2)
        name = await s.scalar(text("SELECT name FROM stores WHERE id = :s"), {"s": w.store_id})
        other_name = await s.scalar(text("SELECT name FROM stores WHERE id = :s"), {"s": other})
    sign_in(client, w.customer_id)

    r = await client.get(f"/?store={w.store_id}")
    assert r.status_code == 200, r.text
    assert name in r.text and "矿泉水" in r.text and "¥12.50" in r.text
    assert "维生素C" not in r.text and "/sandbox/static/jsbridge.js" in r.text

    r = await client.get(f"/?store={other}")
    assert other_name in r.text and "维生素C" in r.text and "¥3.99" in r.text and "矿泉水" not in r.text

    r = await client.get(f"/?store={w.store_id}&q=矿泉")
    assert "矿泉水" in r.text
    r = await client.get(f"/?store={w.store_id}&q=咖啡")
    assert "矿泉水" not in r.text and "没有找到“咖啡”相关的商品" in r.text

    # Nearest to a point: with no store chosen, the store at the customer's location.
    r = await client.get("/?lat=31.2304&lng=121.4737")
    assert r.status_code == 200 and (name in r.text or other_name in r.text)


async def test_cart_and_orders_pages_show_the_customers_own_data(client: httpx.AsyncClient) -> None:
    w = await world(price_fen=1250)
    async with unit_of_work() as s:
        stranger = await make_customer(s, w.account_id)
    sign_in(client, w.customer_id)

    r = await client.get(f"/cart?store={w.store_id}")
    assert "购物车是空的" in r.text

    r = await client.put(f"/api/cart/{w.store_id}/items/{w.sku_id}", json={"qty": 2})
    assert r.status_code == 200, r.text
    r = await client.get(f"/cart?store={w.store_id}")
    assert r.status_code == 200 and "商品 " in r.text and "¥25.00" in r.text and 'id="checkout"' in r.text
    r = await client.get(f"/?store={w.store_id}")
    assert re.search(r'id="cart-count">2<', r.text)

    r = await client.get("/orders")
    assert "还没有订单" in r.text

    r = await client.post(
        "/api/orders/", json={"store_id": w.store_id, "kind": "pickup"}, headers={"Idempotency-Key": "web-test-1"}
    )
    assert r.status_code == 201, r.text
    placed = r.json()

    r = await client.get("/orders")
    assert placed["id"] in r.text and "待支付" in r.text and "¥25.00" in r.text

    r = await client.get(f"/orders/{placed['id']}")
    assert r.status_code == 200
    assert placed["number"] in r.text and "待支付" in r.text and "到店自提" in r.text
    assert 'id="pay"' in r.text and 'id="cancel"' in r.text

    # Cancelled: the page says so and offers no more buttons.
    r = await client.post(f"/api/orders/{placed['id']}/cancel", json={"reason": "不要了"})
    assert r.status_code == 200, r.text
    r = await client.get(f"/orders/{placed['id']}")
    assert "已取消" in r.text and 'id="pay"' not in r.text and 'id="cancel"' not in r.text

    # Someone else's order is as if it did not exist.
    sign_in(client, stranger)
    r = await client.get(f"/orders/{placed['id']}")
    assert r.status_code == 404 and "找不到这个订单" in r.text
    r = await client.get("/orders")
    assert placed["id"] not in r.text


async def test_storefront_without_an_open_store_says_so(client: httpx.AsyncClient) -> None:
    async with unit_of_work() as s:
        closed = await make_store(s, status="paused")
    sign_in(client, 1)
    r = await client.get(f"/?store={closed}")
    assert r.status_code == 200 and "附近暂时没有营业的门店" in r.text
