"""The demo chain seed (idempotent, usable at once), the migration matching the models, the OpenAPI schema."""

from __future__ import annotations

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import shop.models
from core.db import Base, get_engine
from shop import seed_data
from shop.seed import seed_demo
from tests.integration.shop.conftest import count, scalar


async def test_seed_is_idempotent_and_serves_the_demo(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed_demo()
    first = [
        await count(t)
        for t in (
            "stores",
            "products",
            "skus",
            "store_listings",
            "stock_levels",
            "stock_movements",
            "users",
            "store_staff",
            "store_hours",
        )
    ]
    await seed_demo()
    again = [
        await count(t)
        for t in (
            "stores",
            "products",
            "skus",
            "store_listings",
            "stock_levels",
            "stock_movements",
            "users",
            "store_staff",
            "store_hours",
        )
    ]
    assert first == again
    stores, products, skus, *_ = first
    assert stores == len(seed_data.STORES) >= 30
    assert products >= 190 and skus >= 200
    assert await count("products", "prescription_required") >= 8
    assert await count("stores", "is_hq") == 1
    assert await count("users", "role = 'admin'") == 1 and await count("users", "role = 'finance'") == 1
    per_store = await scalar("SELECT array_agg(n) FROM (SELECT count(*) n FROM store_staff GROUP BY store_id) x")
    assert len(per_store) == stores and set(per_store) <= {2, 3}
    all_day = await scalar(
        "SELECT count(*) FROM (SELECT store_id FROM store_hours WHERE open_min = 0 AND close_min = 1440 "
        "GROUP BY store_id HAVING count(*) = 7) x"
    )
    assert all_day >= 5
    assert await scalar(
        "SELECT bool_and(close_min = 1440) FROM store_hours h JOIN stores s ON s.id = h.store_id WHERE s.is_hq"
    )
    assert await count("store_hours", "close_min > 1440") >= 7  # past-midnight hours exist
    movements = await scalar("SELECT sum(on_hand_delta) FROM stock_movements")
    assert movements == await scalar("SELECT sum(on_hand) FROM stock_levels") > 0
    out = capsys.readouterr().out
    assert "admin / demo-admin-2024" in out and "sh01.staff1" in out

    login = await client.post("/api/auth/login", json={"username": "sh01.staff1", "password": seed_data.STAFF_PASSWORD})
    assert login.status_code == 200
    mine = (await client.get("/api/admin/stores/", headers={"Authorization": f"Bearer {login.json()['token']}"})).json()
    assert [s["code"] for s in mine["items"]] == ["SH01"]
    near = (await client.get("/api/stores/nearby", params={"lat": 31.2336, "lng": 121.4750, "limit": 3})).json()
    assert near[0]["code"] == "SH01" and near[0]["distance_m"] < 5
    sh01 = near[0]["id"]
    found = (await client.get(f"/api/stores/{sh01}/catalogue", params={"q": "感冒"})).json()
    assert "999感冒灵颗粒" in [p["title"] for p in found["items"]]
    listed = (await client.get(f"/api/stores/{sh01}/catalogue", params={"page_size": 100})).json()
    assert listed["total"] == products


async def test_migration_0004_matches_the_models(database: str) -> None:
    coupon_tables = {"coupon_templates", "customer_coupons"}  # migration 0008's, not 0004's
    shop_tables = {getattr(shop.models, name).__table__.name for name in shop.models.__all__} - coupon_tables
    assert len(shop_tables) == 16

    def diff(conn):  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, Base.metadata)

    async with get_engine().connect() as conn:
        changes = await conn.run_sync(diff)

    def tables_of(change: object) -> set[str]:
        item = change[0] if isinstance(change, list) else change
        found = set()
        for part in item[1:]:  # type: ignore[index]
            if isinstance(part, str):
                found.add(part)
            elif getattr(part, "table", None) is not None:
                found.add(part.table.name)
            elif getattr(part, "name", None) and hasattr(part, "columns") and hasattr(part, "schema"):
                found.add(part.name)
        return found

    mine = [c for c in changes if tables_of(c) & shop_tables]
    assert mine == []
    ex = await scalar("SELECT count(*) FROM pg_constraint WHERE contype = 'x' AND conname LIKE 'ex_store_hours%'")
    assert ex == 2


async def test_openapi_schema_builds(client: httpx.AsyncClient) -> None:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for p in (
        "/api/stores/nearby",
        "/api/stores/{store_id}/catalogue",
        "/api/admin/stores/{store_id}/stock/{sku_id}/adjustments",
    ):
        assert p in paths, p


async def test_startup_upserts_the_default_account_and_builds_the_mirror(
    clean: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.redis import get_redis
    from core.settings import reset_settings
    from shop import handlers
    from tests.integration.shop.conftest import make_store

    await make_store("S1")
    await get_redis().flushdb()
    await handlers.on_startup()
    assert await scalar("SELECT appid FROM official_accounts WHERE is_default") == "wx5andb0x0000demo"
    assert await get_redis().hget("shop:geo:meta", "ready") == b"1"
    assert await get_redis().zcard("shop:geo:stores") == 1
    monkeypatch.setenv("WECHAT_APPID", "wxnewappid123")
    monkeypatch.setenv("WECHAT_TOKEN", "newtoken")
    reset_settings()
    try:
        await handlers.on_startup()  # settings win: the new appid becomes the default, the old row stays
    finally:
        monkeypatch.undo()
        reset_settings()
    assert await scalar("SELECT appid FROM official_accounts WHERE is_default") == "wxnewappid123"
    assert await scalar("SELECT token FROM official_accounts WHERE appid = 'wxnewappid123'") == "newtoken"
    assert await count("official_accounts") == 2
    await handlers.on_shutdown()
