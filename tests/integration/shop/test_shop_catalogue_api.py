"""Catalogue over HTTP: store listings at store prices, Chinese substring search, pagination, a cache that never
serves a stale price, stock or listing, bad input refused with nothing written, audited price changes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from core.db import unit_of_work
from core.redis import get_redis
from shop.after_commit import drain
from shop.catalogue import cache as cache_module
from shop.catalogue import local_cache
from shop.catalogue.browse import cache_signature
from shop.stock.seam import reserve_stock
from tests.integration.shop.conftest import bearer, count, execute, list_at, make_product, make_store, make_user


@pytest.fixture
async def shop(client: httpx.AsyncClient) -> dict[str, Any]:
    store = await make_store("C1")
    other = await make_store("C2", lat=31.3)
    products = [
        await make_product("999感冒灵颗粒", [("MCF-001", 1580)], tags=["OTC"]),
        await make_product("连花清瘟胶囊", [("MCF-002-1", 2350), ("MCF-002-2", 3200)], tags=["OTC"]),
        await make_product("阿莫西林胶囊", [("MRX-001", 1280)], category="处方药", prescription_required=True),
        await make_product("农夫山泉饮用天然水", [("BWT-001", 200)], category="饮用水", subtitle="弱碱性 550ml"),
    ]
    for p in products:
        for sku in p.sku_ids:
            await list_at(store, sku, on_hand=10)
    await list_at(other, products[0].sku_ids[0], price_fen=1680, on_hand=3)
    admin = bearer("user", await make_user("boss", "admin"), "admin")
    return {"store": store, "other": other, "products": products, "admin": admin}


async def page(client: httpx.AsyncClient, store: int, **params: Any) -> dict[str, Any]:
    await drain()  # what was committed has reached Redis (as it has by the time a next request arrives)
    await cache_module.flush_stock_bumps()  # orders' stock changes: within STOCK_LAG, now in a test
    r = await client.get(f"/api/stores/{store}/catalogue", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def sku_view(body: dict[str, Any], code: str) -> dict[str, Any]:
    return next(s for p in body["items"] for s in p["skus"] if s["code"] == code)


async def test_listing_prices_stock_and_search(client: httpx.AsyncClient, shop: dict[str, Any]) -> None:
    body = await page(client, shop["store"])
    assert body["total"] == 4 and body["items"][0]["title"] == "999感冒灵颗粒"
    assert sku_view(body, "MCF-002-2") == {
        "sku_id": shop["products"][1].sku_ids[1],
        "code": "MCF-002-2",
        "spec": "",
        "barcode": None,
        "price_fen": 3200,
        "base_price_fen": 3200,
        "available": 10,
    }
    other = await page(client, shop["other"])
    assert other["total"] == 1 and sku_view(other, "MCF-001")["price_fen"] == 1680  # the store's own price
    for q, titles in (
        ("感冒", ["999感冒灵颗粒"]),
        ("冒灵", ["999感冒灵颗粒"]),  # a substring in the middle
        ("胶囊", ["连花清瘟胶囊", "阿莫西林胶囊"]),
        ("药", []),
        ("550ml", ["农夫山泉饮用天然水"]),  # subtitle
        ("MRX-001", ["阿莫西林胶囊"]),  # SKU code
        ("OTC", ["999感冒灵颗粒", "连花清瘟胶囊"]),  # tag
        ("%", []),
    ):
        found = await page(client, shop["store"], q=q)
        assert sorted(p["title"] for p in found["items"]) == sorted(titles), q
    rx = (await page(client, shop["store"], q="阿莫西林"))["items"][0]
    assert rx["prescription_required"] is True
    chain = (await client.get("/api/catalogue/search", params={"q": "感冒"})).json()
    assert [p["title"] for p in chain["items"]] == ["999感冒灵颗粒"] and chain["items"][0]["skus"][0][
        "available"
    ] is None


async def test_pagination_covers_everything_once(client: httpx.AsyncClient, shop: dict[str, Any]) -> None:
    seen = []
    for n in (1, 2, 3):
        body = await page(client, shop["store"], page=n, page_size=2)
        assert body["total"] == 4
        seen += [p["product_id"] for p in body["items"]]
    assert len(seen) == len(set(seen)) == 4
    for bad in ({"page": 0}, {"page_size": 0}, {"page_size": 101}, {"page": "x"}):
        assert (await client.get(f"/api/stores/{shop['store']}/catalogue", params=bad)).status_code == 400


async def test_cache_is_used_and_invalidated_by_price_stock_listing_and_product_changes(
    client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    store, admin = shop["store"], shop["admin"]
    sku = shop["products"][0].sku_ids[0]
    await page(client, store)
    assert await get_redis().keys(cache_module.PAGE_PREFIX + "*")  # the page is cached
    await execute("UPDATE skus SET spec = 'changed behind the cache' WHERE id = :k", k=sku)
    assert sku_view(await page(client, store), "MCF-001")["spec"] == ""  # served from the cache

    r = await client.put(f"/api/admin/stores/{store}/listings/{sku}", json={"price_fen": 1499}, headers=admin)
    assert r.status_code == 200 and r.json()["effective_price_fen"] == 1499
    assert sku_view(await page(client, store), "MCF-001")["price_fen"] == 1499

    async with unit_of_work() as s:
        await reserve_stock(s, store, [(sku, 4)], "order:1")
    assert sku_view(await page(client, store), "MCF-001")["available"] == 6

    r = await client.post(
        f"/api/admin/stores/{store}/stock/{sku}/adjustments", json={"delta": -2, "reason": "破损"}, headers=admin
    )
    assert r.status_code == 201 and r.json()["available"] == 4
    assert sku_view(await page(client, store), "MCF-001")["available"] == 4

    r = await client.patch(
        f"/api/admin/catalogue/products/{shop['products'][0].product_id}", json={"title": "999感冒灵"}, headers=admin
    )
    assert r.status_code == 200
    assert (await page(client, store))["items"][0]["title"] == "999感冒灵"

    r = await client.patch(f"/api/admin/catalogue/skus/{sku}", json={"base_price_fen": 1600}, headers=admin)
    assert r.status_code == 200
    v = sku_view(await page(client, store), "MCF-001")
    assert (v["price_fen"], v["base_price_fen"]) == (1499, 1600)

    r = await client.put(f"/api/admin/stores/{store}/listings/{sku}", json={"listed": False}, headers=admin)
    assert r.status_code == 200
    assert "MCF-001" not in [s["code"] for p in (await page(client, store))["items"] for s in p["skus"]]

    r = await client.patch(f"/api/admin/stores/{store}", json={"status": "paused"}, headers=admin)
    assert r.status_code == 200
    await drain()
    assert (await client.get(f"/api/stores/{store}/catalogue")).status_code == 404


async def test_catalogue_works_without_redis(
    client: httpx.AsyncClient, shop: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    down = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(cache_module, "get_redis", lambda: down)
    monkeypatch.setattr(cache_module, "_script", None)
    assert (await page(client, shop["store"], q="感冒"))["total"] == 1
    r = await client.put(
        f"/api/admin/stores/{shop['store']}/listings/{shop['products'][0].sku_ids[0]}",
        json={"price_fen": 1},
        headers=shop["admin"],
    )
    assert r.status_code == 200
    await drain()
    assert await count("jobs", "kind = 'shop.bump_catalogue'") == 1  # the missed invalidation is retried later
    assert sku_view(await page(client, shop["store"]), "MCF-001")["price_fen"] == 1


async def test_bad_catalogue_input_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    admin, store = shop["admin"], shop["store"]
    sku = shop["products"][0].sku_ids[0]
    cat = shop["products"][0].category_id
    before = (
        await count("skus"),
        await count("products"),
        await count("shop_audit_log"),
        await count("store_listings", "price_fen IS NOT NULL"),
    )
    for body in ({"price_fen": -1}, {"price_fen": 12.5}, {"price_fen": 12.0}, {"price_fen": "1200"}, {"listed": "yes"}):
        r = await client.put(f"/api/admin/stores/{store}/listings/{sku}", json=body, headers=admin)
        assert r.status_code == 400, (body, r.text)
    for body in ({"base_price_fen": -5}, {"base_price_fen": 9.99}, {"code": "MCF-002-1"}, {"code": "bad code!"}):
        r = await client.patch(f"/api/admin/catalogue/skus/{sku}", json=body, headers=admin)
        assert r.status_code in (400, 409), (body, r.text)
    new = {
        "category_id": cat,
        "title": "新品",
        "skus": [{"code": "NEW-1", "base_price_fen": 100}, {"code": "NEW-1", "base_price_fen": 200}],
    }
    r = await client.post("/api/admin/catalogue/products", json=new, headers=admin)
    assert r.status_code == 400 and "duplicate SKU code" in r.json()["detail"]
    new["skus"] = [{"code": "MCF-001", "base_price_fen": 100}]
    r = await client.post("/api/admin/catalogue/products", json=new, headers=admin)
    assert r.status_code == 409 and "MCF-001" in r.json()["detail"]
    new["skus"] = [{"code": "NEW-2", "base_price_fen": -100}]
    assert (await client.post("/api/admin/catalogue/products", json=new, headers=admin)).status_code == 400
    r = await client.post(
        "/api/admin/catalogue/products", json={**new, "category_id": 987654, "skus": []}, headers=admin
    )
    assert r.status_code == 404
    after = (
        await count("skus"),
        await count("products"),
        await count("shop_audit_log"),
        await count("store_listings", "price_fen IS NOT NULL"),
    )
    assert after == before
    assert (await client.get("/api/stores/987654/catalogue")).status_code == 404
    assert (await client.get("/api/catalogue/products/987654")).status_code == 404
    assert (await client.get(f"/api/stores/{store}/catalogue", params={"q": "x" * 51})).status_code == 400


async def test_price_changes_are_audited(client: httpx.AsyncClient, shop: dict[str, Any]) -> None:
    admin, store, sku = shop["admin"], shop["store"], shop["products"][0].sku_ids[0]
    await client.put(f"/api/admin/stores/{store}/listings/{sku}", json={"price_fen": 1200}, headers=admin)
    await client.patch(f"/api/admin/catalogue/skus/{sku}", json={"base_price_fen": 1700}, headers=admin)
    entries = (await client.get("/api/admin/audit/", params={"action": "price.store"}, headers=admin)).json()["items"]
    assert entries[0]["before"] == {"price_fen": None, "listed": True} and entries[0]["after"] == {
        "price_fen": 1200,
        "listed": True,
    }
    assert entries[0]["actor"].startswith("user:") and entries[0]["store_id"] == store
    base = (await client.get("/api/admin/audit/", params={"action": "price.base"}, headers=admin)).json()["items"]
    assert base[0]["before"] == {"base_price_fen": 1580} and base[0]["after"] == {"base_price_fen": 1700}


async def wait_for(predicate, seconds: float = 2.0) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


async def test_the_per_process_layer_follows_invalidations(client: httpx.AsyncClient, shop: dict[str, Any]) -> None:
    store, sku = shop["store"], shop["products"][0].sku_ids[0]
    await page(client, store)  # starts this process's invalidation listener
    assert await wait_for(lambda: local_cache.token(store) is not None)
    await page(client, store)
    key = (store, cache_signature(None, None, 1, 20))
    assert local_cache.get(key) is not None

    await cache_module.bump([store])  # as another process would after its commit: only the message reaches us
    assert await wait_for(lambda: local_cache.get(key) is None, 1.0)
    await page(client, store)
    assert local_cache.get(key) is not None

    r = await client.put(f"/api/admin/stores/{store}/listings/{sku}", json={"price_fen": 1234}, headers=shop["admin"])
    assert r.status_code == 200
    await drain()
    assert local_cache.get(key) is None
    assert sku_view(await page(client, store), "MCF-001")["price_fen"] == 1234
    assert local_cache.get(key) is not None

    await get_redis().incr(local_cache.SEQ_KEY)  # a bump whose message this process never received
    assert await wait_for(lambda: local_cache.get(key) is None, local_cache.POLL * 3)

    taken = local_cache.token(store)
    local_cache.forget(store)  # an invalidation lands while a page is being built
    local_cache.put((store, "built-before"), b"old", taken)
    assert local_cache.get((store, "built-before")) is None


async def test_admin_product_list_is_paged(client: httpx.AsyncClient, shop: dict[str, Any]) -> None:
    body = (
        await client.get("/api/admin/catalogue/products", params={"q": "胶囊", "page_size": 1}, headers=shop["admin"])
    ).json()
    assert body["total"] == 2 and len(body["items"]) == 1 and body["items"][0]["title"] == "连花清瘟胶囊"
    assert [s["code"] for s in body["items"][0]["skus"]] == ["MCF-002-1", "MCF-002-2"]
    tree = (await client.get("/api/catalogue/categories")).json()
    assert {c["name"] for c in tree} == {"感冒发烧", "处方药", "饮用水"}


async def bumps_so_far() -> int:
    return int(await get_redis().get(local_cache.SEQ_KEY) or 0)


async def test_orders_stock_changes_reach_pages_coalesced_and_staff_changes_at_once(
    client: httpx.AsyncClient, shop: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "STOCK_LAG", 60.0)  # no timer fires during this test: flushes decide
    store, admin = shop["store"], shop["admin"]
    sku = shop["products"][0].sku_ids[0]
    assert sku_view(await page(client, store), "MCF-001")["available"] == 10
    before = await bumps_so_far()
    for i in range(3):
        async with unit_of_work() as s:
            await reserve_stock(s, store, [(sku, 1)], f"order:{i}")
    await drain()
    # Within the lag: no invalidation yet; the cached page still shows the earlier availability.
    assert await bumps_so_far() == before
    r = await client.get(f"/api/stores/{store}/catalogue")
    assert sku_view(r.json(), "MCF-001")["available"] == 10
    # One invalidation for the three orders, after they committed.
    await cache_module.flush_stock_bumps()
    assert await bumps_so_far() == before + 1
    assert sku_view(await page(client, store), "MCF-001")["available"] == 7

    # A staff adjustment is shown at once (no flush).
    r = await client.post(
        f"/api/admin/stores/{store}/stock/{sku}/adjustments", json={"delta": -1, "reason": "破损"}, headers=admin
    )
    assert r.status_code == 201, r.text
    await drain()
    assert await bumps_so_far() == before + 2
    r = await client.get(f"/api/stores/{store}/catalogue")
    assert sku_view(r.json(), "MCF-001")["available"] == 6


async def test_a_pending_stock_bump_fires_after_the_lag(
    client: httpx.AsyncClient, shop: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "STOCK_LAG", 0.05)
    store = shop["store"]
    sku = shop["products"][0].sku_ids[0]
    await page(client, store)
    before = await bumps_so_far()
    async with unit_of_work() as s:
        await reserve_stock(s, store, [(sku, 2)], "order:lag")
    await drain()
    for _ in range(200):  # the timer is this process's own; no flush
        if await bumps_so_far() > before:
            break
        await asyncio.sleep(0.025)
    assert await bumps_so_far() == before + 1
    r = await client.get(f"/api/stores/{store}/catalogue")
    assert sku_view(r.json(), "MCF-001")["available"] == 8
