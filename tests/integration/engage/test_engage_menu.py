"""The custom menu: refused over WeChat's limits before WeChat is called; published by the worker; the demo seed."""

from __future__ import annotations

import httpx

from core import clock
from core.settings import get_settings
from engage.publish_menu import DEMO_MENU
from tests.integration.engage.conftest import run_jobs, scalar


async def sandbox_menu(api: httpx.AsyncClient) -> dict | None:
    r = await api.get("/api/menu")
    assert r.status_code == 200, r.text
    return r.json()["menu"]


async def token_fetches(api: httpx.AsyncClient) -> int:
    return int((await api.get("/api/tokens/fetches", params={"kind": "access_token"})).json()["count"])


async def test_a_menu_over_the_limits_is_refused_before_calling_wechat(
    api: httpx.AsyncClient, app_http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    four = {"button": [{"type": "click", "name": f"按钮{i}", "key": f"K{i}"} for i in range(4)]}
    six_subs = {
        "button": [
            {"name": "更多", "sub_button": [{"type": "click", "name": f"子{i}", "key": f"S{i}"} for i in range(6)]}
        ]
    }
    long_name = {"button": [{"type": "click", "name": "这是一个很长的菜单名字", "key": "K"}]}
    bad_url = {"button": [{"type": "view", "name": "网页", "url": "ftp://example.com"}]}
    no_key = {"button": [{"type": "click", "name": "点我"}]}
    for menu in (four, six_subs, long_name, bad_url, no_key, {"button": []}, {"menu": 1}):
        for path in ("/api/engage/menu", "/api/engage/menu/publish"):
            r = await (app_http.put if path.endswith("menu") else app_http.post)(path, json=menu, headers=admin)
            assert r.status_code == 400, (menu, r.text)
    r = await app_http.put("/api/engage/menu", json=four, headers=admin)
    assert "at most 3" in r.json()["detail"]
    assert await sandbox_menu(api) is None
    assert await token_fetches(api) == 0  # WeChat was never called, not even for a token
    assert await scalar("SELECT count(*) FROM jobs") == 0
    assert await scalar("SELECT count(*) FROM engage_menus") == 0


async def test_a_valid_menu_is_published_through_menu_create(
    api: httpx.AsyncClient, app_http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await app_http.post("/api/engage/menu/publish", json=DEMO_MENU, headers=admin)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "publishing"
    await run_jobs()
    menu = await sandbox_menu(api)
    base = get_settings().base_url
    assert [b["name"] for b in menu["button"]] == ["点单", "附近门店", "我的"]
    assert menu["button"][0]["url"] == base + "/auth/wechat?next=/"
    assert [b["name"] for b in menu["button"][2]["sub_button"]] == ["订单", "会员卡", "优惠券"]
    state = (await app_http.get("/api/engage/menu", headers=admin)).json()
    assert state["status"] == "published" and state["published_version"] == state["version"] == 1


async def test_staff_cannot_edit_the_menu(app_http: httpx.AsyncClient) -> None:
    from tests.integration.engage.conftest import user_headers

    _, staff = await user_headers("staff")
    r = await app_http.put("/api/engage/menu", json=DEMO_MENU, headers=staff)
    assert r.status_code == 403
    r = await app_http.put("/api/engage/menu", json=DEMO_MENU)
    assert r.status_code == 401


async def test_the_demo_seed_publishes_the_menu_and_store_codes(api: httpx.AsyncClient, live_app: str) -> None:
    from engage.seed import seed_demo
    from tests.integration.engage.conftest import store

    await store()
    await seed_demo()
    await seed_demo()  # idempotent
    clock.advance(6)  # the seed gives the app a moment to start before the worker calls the sandbox
    await run_jobs()
    assert [b["name"] for b in (await sandbox_menu(api))["button"]] == ["点单", "附近门店", "我的"]
    codes = (await api.get("/api/qrcodes")).json()
    assert len(codes) == 1 and codes[0]["scene"].startswith("store:")
    assert await scalar("SELECT count(*) FROM engage_keyword_rules") > 5
    assert await scalar("SELECT count(*) FROM engage_templates") == 8
