"""The customer H5's store switcher, remembered store, product page, checkout choices, paginated orders and the
order page's pay / refund states, rendered from the domains' data for the signed-in customer."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx
from sqlalchemy import text

from core import clock
from core.db import unit_of_work
from orders.checkout import CheckoutRequest, LineIn
from orders.mark_paid import mark_paid
from orders.place_order import place_order
from orders.transition_order import transition
from tests.integration.orders.factories import list_sku, make_address, make_sku, make_store, north, world
from tests.integration.web.test_customer_pages import sign_in
from web.store_choice import STORE_COOKIE


async def _name(store_id: int) -> str:
    async with unit_of_work() as s:
        return str(await s.scalar(text("SELECT name FROM stores WHERE id = :s"), {"s": store_id}))


async def test_signed_out_visitors_of_new_pages_go_to_wechat_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/stores", "/products/1"):
        r = await client.get(path)
        assert r.status_code == 302 and r.headers["location"].startswith("/auth/wechat?next="), path


async def test_store_switcher_lists_nearest_first_with_distance_open_state_and_search(
    client: httpx.AsyncClient,
) -> None:
    w = await world()
    async with unit_of_work() as s:
        far_lat, far_lng = north(3000)
        far = await make_store(s, lat=far_lat, lng=far_lng)
        closed = await make_store(s, lat=north(1000)[0], lng=far_lng, always_open=False)
        paused = await make_store(s, status="paused")
    near_name, far_name, closed_name, paused_name = [await _name(x) for x in (w.store_id, far, closed, paused)]
    sign_in(client, w.customer_id)

    lat, lng = north(200)
    r = await client.get(f"/stores?lat={lat}&lng={lng}")
    assert r.status_code == 200, r.text
    page = r.text
    assert page.index(near_name) < page.index(closed_name) < page.index(far_name)
    assert paused_name not in page
    assert "200米" in page and "2.8公里" in page
    block = page[page.index(f'data-store-id="{closed}"') :]
    assert block.index("休息中") < block.index("</li>")
    assert "营业中" in page[page.index(f'data-store-id="{w.store_id}"') :]
    assert f'href="/?store={far}"' in page

    # Search by name, with and without a location; nothing found says so.
    r = await client.get(f"/stores?q={far_name[-3:]}")
    assert far_name in r.text and near_name not in r.text and "未获取到你的位置" in r.text
    r = await client.get(f"/stores?lat={lat}&lng={lng}&q={far_name}")
    assert far_name in r.text and near_name not in r.text
    r = await client.get("/stores?q=不存在的店")
    assert "没有找到“不存在的店”相关的门店" in r.text


async def test_chosen_store_is_remembered_and_location_or_saved_address_picks_the_nearest(
    client: httpx.AsyncClient,
) -> None:
    w = await world()
    async with unit_of_work() as s:
        north_lat, north_lng = north(8000)
        other = await make_store(s, lat=north_lat, lng=north_lng)
    name, other_name = await _name(w.store_id), await _name(other)
    sign_in(client, w.customer_id)

    # No choice, no location, no address: the first open store, and the page asks the phone where it is.
    r = await client.get("/")
    assert name in r.text and 'data-locate="1"' in r.text

    # Located near the other store: that one, remembered for next time.
    r = await client.get(f"/?lat={north_lat}&lng={north_lng}")
    assert other_name in r.text and "data-locate" not in r.text
    assert r.cookies.get(STORE_COOKIE) == str(other)
    client.cookies.set(STORE_COOKIE, str(other))
    r = await client.get("/")
    assert other_name in r.text
    r = await client.get("/cart")
    assert other_name in r.text

    # A paused store is never used, remembered or not.
    async with unit_of_work() as s:
        await s.execute(text("UPDATE stores SET status = 'paused' WHERE id = :s"), {"s": other})
    r = await client.get("/")
    assert name in r.text and other_name not in r.text

    # With a saved address and no cookie: the store nearest to it.
    async with unit_of_work() as s:
        await s.execute(text("UPDATE stores SET status = 'active' WHERE id = :s"), {"s": other})
        await make_address(s, w.customer_id, north_lat, north_lng)
    client.cookies.delete(STORE_COOKIE)
    r = await client.get("/")
    assert other_name in r.text


async def test_product_page_shows_specs_prices_stock_and_description(client: httpx.AsyncClient) -> None:
    w = await world(price_fen=1250, stock=3)
    async with unit_of_work() as s:
        product = await s.scalar(text("SELECT product_id FROM skus WHERE id = :k"), {"k": w.sku_id})
        await s.execute(
            text(
                "UPDATE products SET title = '布洛芬缓释胶囊', subtitle = '退烧止痛', description = '每次1粒，每日2次' "
                "WHERE id = :p"
            ),
            {"p": product},
        )
        gone = await s.scalar(
            text(
                "INSERT INTO skus (product_id, code, spec, base_price_fen) VALUES (:p, 'X-2', '20粒', 2400) RETURNING id"
            ),
            {"p": product},
        )
        await list_sku(s, w.store_id, gone, stock=0)
        elsewhere = await make_sku(s, title="只在别家卖")
    sign_in(client, w.customer_id)
    await client.put(f"/api/cart/{w.store_id}/items/{w.sku_id}", json={"qty": 2})

    r = await client.get(f"/products/{product}?store={w.store_id}")
    assert r.status_code == 200, r.text
    for want in ("布洛芬缓释胶囊", "退烧止痛", "每次1粒，每日2次", "¥12.50", "¥24.00", "仅剩3件", "已售罄"):
        assert want in r.text, want
    assert re.search(r'id="cart-count">2<', r.text)
    assert re.search(rf'data-sku="{gone}".*?aria-label="加入购物车" disabled', r.text, re.S)

    # The storefront links to it.
    r = await client.get(f"/?store={w.store_id}")
    assert f'href="/products/{product}?store={w.store_id}"' in r.text

    for missing in (elsewhere, 999999):
        r = await client.get(f"/products/{missing}?store={w.store_id}")
        assert r.status_code == 404 and "找不到这个商品" in r.text


async def test_checkout_offers_saved_addresses_and_pickup_slots_when_open(client: httpx.AsyncClient) -> None:
    w = await world()
    async with unit_of_work() as s:
        address = await make_address(s, w.customer_id, *north(500))
    sign_in(client, w.customer_id)
    await client.put(f"/api/cart/{w.store_id}/items/{w.sku_id}", json={"qty": 1})
    r = await client.get(f"/cart?store={w.store_id}")
    assert f'name="address_id" value="{address}" checked' in r.text and "人民大道 1 号" in r.text
    slots = re.findall(r'<option value="([^"]+)">((?:今天|明天)[^<]*)</option>', r.text)
    assert len(slots) == 16
    first = clock.now() + timedelta(minutes=20)
    assert all(datetime.fromisoformat(v) >= first - timedelta(seconds=1) for v, _ in slots)

    # A slot the page offers is one the quote accepts.
    r = await client.post(
        "/api/orders/quote", json={"store_id": w.store_id, "kind": "pickup", "pickup_at": slots[3][0]}
    )
    assert r.status_code == 200, r.text
    # And the saved address is what delivery quotes use.
    r = await client.post("/api/orders/quote", json={"store_id": w.store_id, "kind": "delivery", "address_id": address})
    assert r.status_code == 200 and r.json()["delivery_fee_fen"] >= 0


async def test_orders_are_paginated_and_the_order_page_offers_what_its_state_allows(
    client: httpx.AsyncClient,
) -> None:
    w = await world(price_fen=1000, stock=50)
    placed: list[int] = []
    async with unit_of_work() as s:
        for i in range(21):
            req = CheckoutRequest(w.store_id, "pickup", [LineIn(w.sku_id, 1)])
            placed.append((await place_order(s, w.customer_id, req, f"page-key-{i}")).order_id)
        public = {
            r.id: r.public_id
            for r in (await s.execute(text("SELECT id, public_id FROM orders WHERE id = ANY(:i)"), {"i": placed})).all()
        }
    sign_in(client, w.customer_id)
    r = await client.get("/orders")
    assert r.text.count("data-order=") == 20 and "1 / 2" in r.text and 'href="/orders?page=2"' in r.text
    assert "共 21 单" in r.text
    r = await client.get("/orders?page=2")
    assert r.text.count("data-order=") == 1 and public[placed[0]] in r.text
    r = await client.get("/orders?page=9")
    assert "这一页没有订单" in r.text

    # Unpaid, back from a failed pay sheet: the failure is said and paying again is offered.
    r = await client.get(f"/orders/{public[placed[1]]}?pay=fail")
    assert "支付失败，订单已保留，请重新支付" in r.text and "重新支付 ¥10.00" in r.text and 'id="cancel"' in r.text
    assert 'id="refund"' not in r.text
    r = await client.get(f"/orders/{public[placed[1]]}?pay=qr")
    assert 'data-payment="qr"' in r.text and 'id="qr-img"' in r.text

    # Picked up: no cancel, a refund form; after a request it is listed and no second form is offered.
    async with unit_of_work() as s:
        await mark_paid(s, placed[2], "wx-h5-page-1", clock.now())
        for to in ("preparing", "ready", "picked_up"):
            await transition(s, placed[2], to, "user:2")
    r = await client.get(f"/orders/{public[placed[2]]}")
    assert "已取货" in r.text and 'id="refund"' in r.text and 'id="cancel"' not in r.text and 'id="pay"' not in r.text
    r = await client.post(f"/api/orders/{public[placed[2]]}/refunds", json={"reason": "包装破损"})
    assert r.status_code == 201, r.text
    r = await client.get(f"/orders/{public[placed[2]]}")
    assert "退款审核中" in r.text and "包装破损" in r.text and 'id="refund"' not in r.text
