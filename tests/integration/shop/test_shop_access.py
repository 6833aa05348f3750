"""Access matrix: staff of store A can neither read nor change store B on any id-bearing route; finance reads
only; admins manage; customers and anonymous callers get nothing; a refused write writes nothing."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.integration.shop.conftest import bearer, count, list_at, make_product, make_store, make_user, stock_of

# (method, path template, body, what it needs). {s} is the store id, {k} a SKU id.
STORE_ROUTES: list[tuple[str, str, Any, str]] = [
    ("GET", "/api/admin/stores/{s}", None, "read"),
    ("PATCH", "/api/admin/stores/{s}", {"name": "改名"}, "manage"),
    ("DELETE", "/api/admin/stores/{s}", None, "manage"),
    ("GET", "/api/admin/stores/{s}/hours", None, "read"),
    (
        "PUT",
        "/api/admin/stores/{s}/hours",
        {"weekly": [{"weekday": 0, "opens": "09:00", "closes": "10:00"}]},
        "operate",
    ),
    ("PUT", "/api/admin/stores/{s}/hours/exceptions/2026-10-01", {"closed": True}, "operate"),
    ("DELETE", "/api/admin/stores/{s}/hours/exceptions/2026-10-01", None, "operate"),
    ("GET", "/api/admin/stores/{s}/staff", None, "read"),
    ("GET", "/api/admin/stores/{s}/stock", None, "read"),
    ("GET", "/api/admin/stores/{s}/stock/movements", None, "read"),
    ("GET", "/api/admin/stores/{s}/stock/{k}", None, "read"),
    ("POST", "/api/admin/stores/{s}/stock/{k}/adjustments", {"delta": 5, "reason": "盘点"}, "operate"),
    ("POST", "/api/admin/stores/{s}/stock/{k}/receipts", {"qty": 3}, "operate"),
    ("POST", "/api/admin/stores/{s}/stock/import", "sku_code,on_hand\nSKU-1,9\n", "operate"),
    ("GET", "/api/admin/stores/{s}/listings", None, "read"),
    ("PUT", "/api/admin/stores/{s}/listings/{k}", {"price_fen": 999}, "manage"),
    ("GET", "/api/admin/audit?store_id={s}", None, "read"),
]


def template(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", "{}", path).split("?")[0]


def test_every_store_route_is_in_the_matrix(app) -> None:  # type: ignore[no-untyped-def]
    covered = {
        (m, template(p.replace("{s}", "{store_id}").replace("{k}", "{sku_id}").replace("2026-10-01", "{d}")))
        for m, p, _, _ in STORE_ROUTES
    }
    for route in app.routes:
        if "{store_id" not in route.path or not route.path.startswith("/api/admin"):
            continue
        for handler in getattr(route, "route_handlers", []):
            if not handler.fn.__module__.startswith("shop."):
                continue  # other domains' store routes have their own tests
            for method in set(handler.http_methods) - {"OPTIONS", "HEAD"}:
                assert (method, template(route.path)) in covered, f"{method} {route.path} is not in the access matrix"


async def call(client: httpx.AsyncClient, method: str, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    if isinstance(body, str):
        return await client.request(
            method, path, content=body.encode(), headers={**headers, "Content-Type": "text/csv"}
        )
    return await client.request(method, path, json=body, headers=headers)


@pytest.fixture
async def world(client: httpx.AsyncClient) -> dict[str, Any]:
    a, b = await make_store("A"), await make_store("B", lat=31.3)
    sku = (await make_product(skus=[("SKU-1", 1000)])).sku_ids[0]
    for store in (a, b):
        await list_at(store, sku, on_hand=10)
    return {
        "a": a,
        "b": b,
        "sku": sku,
        "staff_a": bearer("user", await make_user("staff.a", "staff", [a]), "staff"),
        "finance": bearer("user", await make_user("money", "finance"), "finance"),
        "admin": bearer("user", await make_user("boss", "admin"), "admin"),
        "customer": bearer("customer", 1, "customer"),
    }


async def snapshot(b: int, sku: int) -> tuple[Any, ...]:
    return (
        await stock_of(b, sku),
        await count("shop_audit_log"),
        await count("stock_movements"),
        await count("store_hours", "store_id = :s", s=b),
        await count("store_hours_exceptions"),
        await count("store_listings", "price_fen IS NOT NULL"),
        await count("stores"),
    )


async def test_staff_of_a_cannot_read_or_change_b(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    b, sku = world["b"], world["sku"]
    before = await snapshot(b, sku)
    for method, path, body, _ in STORE_ROUTES:
        r = await call(client, method, path.format(s=b, k=sku), body, world["staff_a"])
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert r.json()["detail"]
    assert await snapshot(b, sku) == before


async def test_customers_and_anonymous_get_nothing(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    a, sku = world["a"], world["sku"]
    before = await snapshot(a, sku)
    for method, path, body, _ in STORE_ROUTES:
        url = path.format(s=a, k=sku)
        assert (await call(client, method, url, body, world["customer"])).status_code == 403, (method, path)
        assert (await call(client, method, url, body, {})).status_code == 401, (method, path)
    assert await snapshot(a, sku) == before


async def test_staff_operate_their_own_store_but_do_not_manage_it(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    a, sku = world["a"], world["sku"]
    for method, path, body, need in STORE_ROUTES:
        r = await call(client, method, path.format(s=a, k=sku), body, world["staff_a"])
        if need == "manage":
            assert r.status_code == 403, (method, path, r.text)
        else:
            assert r.status_code in (200, 201, 204), (method, path, r.status_code, r.text)
    on_hand, _ = await stock_of(a, sku)
    assert on_hand == 9  # +5, +3, then the import set it to 9
    listed = (await client.get("/api/admin/stores/", headers=world["staff_a"])).json()
    assert [s["id"] for s in listed["items"]] == [a]


async def test_finance_reads_everything_and_changes_nothing(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    b, sku = world["b"], world["sku"]
    before = await snapshot(b, sku)
    for method, path, body, need in STORE_ROUTES:
        r = await call(client, method, path.format(s=b, k=sku), body, world["finance"])
        assert r.status_code == (200 if need == "read" else 403), (method, path, r.text)
    assert await snapshot(b, sku) == before
    assert (await client.get("/api/admin/stores/", headers=world["finance"])).json()["total"] == 2


async def test_admin_reaches_every_store_and_unknown_ids_are_404(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    for method, path, _, need in STORE_ROUTES:
        if need == "read":
            assert (
                await client.get(path.format(s=world["b"], k=world["sku"]), headers=world["admin"])
            ).status_code == 200
            r = await client.get(path.format(s=987654, k=world["sku"]), headers=world["admin"])
            assert r.status_code == 404, (method, path)
            assert (
                await client.get(path.format(s=987654, k=world["sku"]), headers=world["staff_a"])
            ).status_code == 404
    r = await client.get(f"/api/admin/stores/{world['a']}/stock/987654", headers=world["admin"])
    assert r.status_code == 404
    r = await client.put(
        f"/api/admin/stores/{world['a']}/listings/987654", json={"price_fen": 1}, headers=world["admin"]
    )
    assert r.status_code == 404


async def test_hq_only_routes(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    sku = world["sku"]
    for who in ("staff_a", "finance"):
        h = world[who]
        assert (
            await client.post(
                "/api/admin/stores/", json={"code": "X", "name": "x", "lat": 31, "lng": 121, "radius_m": 100}, headers=h
            )
        ).status_code == 403
        assert (
            await client.patch(f"/api/admin/catalogue/skus/{sku}", json={"base_price_fen": 1}, headers=h)
        ).status_code == 403
        assert (await client.post("/api/admin/catalogue/categories", json={"name": "新"}, headers=h)).status_code == 403
        assert (await client.get("/api/admin/staff/", headers=h)).status_code == 403
        assert (
            await client.put("/api/admin/staff/1/stores", json={"store_ids": [world["b"]]}, headers=h)
        ).status_code == 403
        assert (await client.get("/api/admin/official-accounts/", headers=h)).status_code == 403
    assert (await client.get("/api/admin/audit/", headers=world["staff_a"])).status_code == 403
    assert (await client.get("/api/admin/customers/", headers=world["staff_a"])).status_code == 403
    assert (await client.get("/api/admin/audit/", headers=world["finance"])).status_code == 200
    assert await count("stores") == 2 and await count("categories") == 1


async def test_a_switched_off_account_is_refused_at_once(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    staff_id = await make_user("staff.off", "staff", [world["a"]])
    token = bearer("user", staff_id, "staff")
    assert (await client.get(f"/api/admin/stores/{world['a']}", headers=token)).status_code == 200
    r = await client.patch(f"/api/admin/staff/{staff_id}", json={"active": False}, headers=world["admin"])
    assert r.status_code == 200 and r.json()["active"] is False
    assert (await client.get(f"/api/admin/stores/{world['a']}", headers=token)).status_code == 401


async def test_customers_see_only_their_own_addresses(client: httpx.AsyncClient, clean: None) -> None:
    from core.db import unit_of_work
    from shop.customers.services import find_or_create_customer, get_account

    async with unit_of_work() as s:
        account = await get_account(s)
        x, _ = await find_or_create_customer(s, account.id, "openid-x")
        y, _ = await find_or_create_customer(s, account.id, "openid-y")
    hx, hy = bearer("customer", x.id, "customer"), bearer("customer", y.id, "customer")
    body = {"contact_name": "小王", "phone": "13800138000", "address": "南京东路1号", "lat": 31.24, "lng": 121.48}
    r = await client.post("/api/customer/addresses", json=body, headers=hx)
    assert r.status_code == 201 and r.json()["is_default"] is True
    addr = r.json()["id"]
    assert (await client.get(f"/api/customer/addresses/{addr}", headers=hy)).status_code == 404
    assert (await client.patch(f"/api/customer/addresses/{addr}", json={"detail": "x"}, headers=hy)).status_code == 404
    assert (await client.delete(f"/api/customer/addresses/{addr}", headers=hy)).status_code == 404
    assert (await client.get("/api/customer/addresses", headers=hy)).json() == []
    assert (await client.get(f"/api/customer/addresses/{addr}", headers=hx)).status_code == 200
    staff = bearer("user", await make_user("staff.c", "staff"), "staff")
    assert (await client.get("/api/customer/addresses", headers=staff)).status_code == 403
    for bad in ({**body, "lat": 95}, {**body, "lng": -200}, {**body, "phone": "call me"}, {**body, "lat": "31"}):
        assert (await client.post("/api/customer/addresses", json=bad, headers=hx)).status_code == 400
    assert await count("customer_addresses") == 1
