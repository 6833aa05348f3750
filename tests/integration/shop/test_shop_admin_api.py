"""Admin API for stores, stock and staff: valid changes land (audited); bad input is 4xx and writes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.db import unit_of_work
from shop.stock.seam import reserve_stock
from tests.integration.shop.conftest import bearer, count, list_at, make_product, make_store, make_user, stock_of

STORE = {"code": "SH99", "name": "邻里康（测试）", "lat": 31.2304, "lng": 121.4737, "radius_m": 3000}


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> dict[str, str]:
    return bearer("user", await make_user("boss", "admin"), "admin")


async def test_create_change_and_read_a_store(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    r = await client.post("/api/admin/stores/", json={**STORE, "is_partner": True, "urgent_capacity": 3}, headers=admin)
    assert r.status_code == 201, r.text
    store = r.json()
    assert store["status"] == "active" and store["is_partner"] is True
    r = await client.patch(
        f"/api/admin/stores/{store['id']}", json={"radius_m": 5000, "phone": "021-12345678"}, headers=admin
    )
    assert r.status_code == 200 and r.json()["radius_m"] == 5000
    audit = (await client.get("/api/admin/audit/", params={"store_id": store["id"]}, headers=admin)).json()["items"]
    assert [a["action"] for a in audit] == ["store.update", "store.create"]
    assert audit[0]["before"] == {"radius_m": 3000, "phone": ""} and audit[0]["after"] == {
        "radius_m": 5000,
        "phone": "021-12345678",
    }
    r = await client.put(
        f"/api/admin/stores/{store['id']}/hours",
        json={"weekly": [{"weekday": d, "opens": "00:00", "closes": "24:00"} for d in range(7)]},
        headers=admin,
    )
    assert r.status_code == 200
    detail = (await client.get(f"/api/stores/{store['id']}")).json()
    assert detail["open_now"] is True and detail["today"] == [{"opens": "00:00", "closes": "24:00", "overnight": False}]
    near = (await client.get("/api/stores/nearby", params={"lat": 31.23, "lng": 121.47, "open_now": "true"})).json()
    assert near[0]["id"] == store["id"] and 0 < near[0]["distance_m"] < 500 and near[0]["delivers"] is True


@pytest.mark.parametrize(
    "bad",
    [
        {"lat": 90.5},
        {"lat": -91},
        {"lng": 180.01},
        {"lng": -200},
        {"lat": "31.2"},
        {"radius_m": 0},
        {"radius_m": -10},
        {"radius_m": 1.5},
        {"radius_m": 1000.0},
        {"urgent_capacity": -1},
        {"status": "closed"},
        {"code": "has space"},
        {"name": ""},
        {"unknown": 1},
    ],
)
async def test_bad_store_input_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], bad: dict[str, Any]
) -> None:
    existing = await make_store("S1")
    r = await client.post("/api/admin/stores/", json={**STORE, **bad}, headers=admin)
    assert r.status_code == 400, r.text
    r = await client.patch(f"/api/admin/stores/{existing}", json=bad, headers=admin)
    assert r.status_code == 400, r.text
    assert await count("stores") == 1
    assert await count("shop_audit_log", "action IN ('store.create', 'store.update')") == 1  # the factory's create


async def test_conflicts_and_unknown_ids(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    a = await make_store("S1", is_hq=True)
    r = await client.post("/api/admin/stores/", json={**STORE, "code": "S1"}, headers=admin)
    assert r.status_code == 409 and "S1" in r.json()["detail"]
    r = await client.post("/api/admin/stores/", json={**STORE, "is_hq": True}, headers=admin)
    assert r.status_code == 409 and "HQ" in r.json()["detail"]
    assert await count("stores") == 1
    for method, path in (
        ("GET", "/api/admin/stores/424242"),
        ("PATCH", "/api/admin/stores/424242"),
        ("GET", "/api/stores/424242"),
        ("PUT", "/api/admin/staff/424242/stores"),
        ("GET", "/api/admin/customers/424242"),
        ("PATCH", "/api/admin/catalogue/skus/424242"),
        ("PATCH", "/api/admin/catalogue/products/424242"),
    ):
        body = {"store_ids": [a]} if "staff" in path else ({"name": "x"} if "stores" in path else {})
        r = await client.request(method, path, json=body if method != "GET" else None, headers=admin)
        assert r.status_code == 404, (method, path, r.text)
    clerk = await make_user("clerk", "staff", [a])
    r = await client.put(f"/api/admin/staff/{clerk}/stores", json={"store_ids": [a, 424242]}, headers=admin)
    assert r.status_code == 404
    r = await client.put("/api/admin/staff/1/stores", json={"store_ids": [a]}, headers=admin)
    assert r.status_code == 400 and "only staff" in r.json()["detail"]  # user 1 is the admin
    assert await count("store_staff") == 1


async def test_stock_adjustments_never_go_below_reserved(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    store = await make_store("S1")
    sku = (await make_product()).sku_ids[0]
    await list_at(store, sku, on_hand=10)
    async with unit_of_work() as s:
        await reserve_stock(s, store, [(sku, 6)], "order:1")
    url = f"/api/admin/stores/{store}/stock/{sku}"
    before_moves = await count("stock_movements")
    for body in (
        {"on_hand": 5, "reason": "盘点"},
        {"delta": -5, "reason": "破损"},
        {"delta": -11, "reason": "破损"},
        {"on_hand": -1, "reason": "x"},
        {"delta": 1.5, "reason": "x"},
        {"delta": 1, "on_hand": 3, "reason": "x"},
        {"reason": "nothing to do"},
        {"delta": 1, "reason": ""},
        {"delta": 1},
    ):
        r = await client.post(f"{url}/adjustments", json=body, headers=admin)
        assert r.status_code in (400, 409), (body, r.text)
        assert r.json()["detail"]
    assert await stock_of(store, sku) == (10, 6)
    assert await count("stock_movements") == before_moves
    r = await client.post(f"{url}/adjustments", json={"on_hand": 6, "reason": "盘点"}, headers=admin)
    assert r.status_code == 201 and r.json()["available"] == 0
    r = await client.post(f"{url}/receipts", json={"qty": 24}, headers=admin)
    assert r.status_code == 201 and r.json()["on_hand"] == 30
    assert (await client.post(f"{url}/receipts", json={"qty": 0}, headers=admin)).status_code == 400
    moves = (
        await client.get(f"/api/admin/stores/{store}/stock/movements", params={"sku_id": sku}, headers=admin)
    ).json()
    assert [m["kind"] for m in moves["items"]] == ["receive", "adjust", "reserve", "adjust"]
    assert moves["items"][1]["actor"].startswith("user:") and moves["items"][1]["reason"] == "盘点"
    assert sum(m["on_hand_delta"] for m in moves["items"]) == 30
    r = await client.post(
        f"/api/admin/stores/{store}/stock/424242/adjustments", json={"delta": 1, "reason": "x"}, headers=admin
    )
    assert r.status_code == 404
    levels = (await client.get(f"/api/admin/stores/{store}/stock", headers=admin)).json()
    assert levels["items"][0] | {"title": ""} == {
        "store_id": store,
        "sku_id": sku,
        "on_hand": 30,
        "reserved": 6,
        "available": 24,
        "sku_code": "SKU-1",
        "title": "",
        "spec": "",
    }
    audit = (
        await client.get("/api/admin/audit/", params={"store_id": store, "action": "stock.adjust"}, headers=admin)
    ).json()
    assert audit["items"][0]["before"] == {"on_hand": 10} and audit["items"][0]["after"] == {"on_hand": 6}


async def test_staff_accounts(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    a, b = await make_store("A"), await make_store("B", lat=31.3)
    r = await client.post(
        "/api/admin/staff/",
        json={
            "username": "a.clerk",
            "password": "long-enough-1",
            "role": "staff",
            "display_name": "店员",
            "store_ids": [a],
        },
        headers=admin,
    )
    assert r.status_code == 201 and r.json()["store_ids"] == [a]
    uid = r.json()["id"]
    login = await client.post("/api/auth/login", json={"username": "a.clerk", "password": "long-enough-1"})
    token = {"Authorization": f"Bearer {login.json()['token']}"}
    assert (await client.get(f"/api/admin/stores/{b}", headers=token)).status_code == 403
    r = await client.put(f"/api/admin/staff/{uid}/stores", json={"store_ids": [a, b]}, headers=admin)
    assert r.status_code == 200 and r.json() == [a, b]
    assert (await client.get(f"/api/admin/stores/{b}", headers=token)).status_code == 200
    staff = (await client.get(f"/api/admin/stores/{b}/staff", headers=admin)).json()
    assert [s["username"] for s in staff] == ["a.clerk"]
    for bad in (
        {"username": "x", "password": "long-enough-1", "role": "staff", "store_ids": [a]},
        {"username": "no.store", "password": "long-enough-1", "role": "staff"},
        {"username": "short.pw", "password": "short", "role": "staff", "store_ids": [a]},
        {"username": "fin.linked", "password": "long-enough-1", "role": "finance", "store_ids": [a]},
        {"username": "a.clerk", "password": "long-enough-1", "role": "staff", "store_ids": [a]},
        {"username": "bad.role", "password": "long-enough-1", "role": "owner"},
    ):
        r = await client.post("/api/admin/staff/", json=bad, headers=admin)
        assert r.status_code in (400, 409), (bad, r.text)
    assert await count("users") == 2
