"""Customer H5 sign-in against the WeChat sandbox over real HTTP: state bound to the browser, single-use codes,
one customer per (account, openid), the customer session; and the JS-SDK config with the sandbox's ticket."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from core import clock
from core.settings import get_settings
from shop.customers.sign_in import STATE_COOKIE
from tests.integration.shop.conftest import count, scalar
from wechat.jssdk import jsapi_signature


async def authorize(
    http: httpx.AsyncClient, *, next_path: str = "/cart", scope: str = "snsapi_base", who: str = "new"
) -> str:
    """Start sign-in in this browser; the sandbox (acting as WeChat) answers with the callback URL."""
    r = await http.get("/auth/wechat", params={"next": next_path, "scope": scope})
    assert r.status_code == 302, r.text
    location = r.headers["location"]
    assert location.startswith(get_settings().wechat_open + "/connect/oauth2/authorize?") and location.endswith(
        "#wechat_redirect"
    )
    assert http.cookies.get(STATE_COOKIE)
    user = {"sandbox_new": "小明"} if who == "new" else {"sandbox_openid": who}
    wechat = await http.get(location.split("#")[0] + "&" + urlencode(user))  # the sandbox picks or makes the user
    assert wechat.status_code == 302, wechat.text
    callback = wechat.headers["location"]
    assert callback.startswith(get_settings().base_url + "/auth/wechat/callback?")
    return callback


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def test_sign_in_creates_one_customer_and_a_session(http: httpx.AsyncClient) -> None:
    callback = await authorize(http, scope="snsapi_userinfo")
    r = await http.get(callback)
    assert r.status_code == 302 and r.headers["location"] == "/cart"
    assert http.cookies.get("o2o_session") and not http.cookies.get(STATE_COOKIE)
    me = (await http.get("/api/customer/me")).json()
    assert me["nickname"] == "小明"
    openid = await scalar("SELECT openid FROM customers WHERE id = :id", id=me["id"])
    assert await scalar("SELECT unionid FROM customers WHERE id = :id", id=me["id"])
    # Signing in again as the same WeChat user finds the same customer.
    again = await authorize(http, who=openid, next_path="/orders")
    r = await http.get(again)
    assert r.headers["location"] == "/orders"
    assert (await http.get("/api/customer/me")).json()["id"] == me["id"]
    assert await count("customers") == 1
    assert await count("official_accounts", "is_default") == 1


async def test_a_used_code_is_refused(http: httpx.AsyncClient) -> None:
    callback = await authorize(http)
    assert (await http.get(callback)).status_code == 302
    http.cookies.delete("o2o_session")
    fresh = await authorize(http)  # a new state cookie in this browser, so only the code is wrong
    replay = callback.replace(query(callback)["state"], query(fresh)["state"])
    r = await http.get(replay)
    assert r.status_code == 400 and "already used or has expired" in r.json()["detail"]
    assert "o2o_session" not in http.cookies
    assert await count("customers") == 1
    assert (await http.get("/api/customer/me")).status_code == 401


async def test_an_expired_code_is_refused(http: httpx.AsyncClient) -> None:
    callback = await authorize(http)
    clock.advance(timedelta(minutes=6))  # WeChat codes live 5 minutes; the sandbox shares our clock
    try:
        r = await http.get(callback)
    finally:
        clock.reset()
    assert r.status_code == 400
    assert await count("customers") == 0


async def test_a_wrong_or_foreign_state_is_refused(http: httpx.AsyncClient, live_app: str) -> None:
    callback = await authorize(http)
    r = await http.get(callback.replace(query(callback)["state"], "0" * 32))
    assert r.status_code == 403 and "does not belong to this browser" in r.json()["detail"]
    # The victim's browser never started this sign-in: an attacker's callback link is useless there.
    async with httpx.AsyncClient(base_url=live_app) as other_browser:
        r = await other_browser.get(callback)
        assert r.status_code == 403
        assert "o2o_session" not in other_browser.cookies
    r = await http.get("/auth/wechat/callback", params={"code": query(callback)["code"]})  # no state at all
    assert r.status_code == 403
    assert await count("customers") == 0


async def test_next_is_always_a_local_path(http: httpx.AsyncClient) -> None:
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        callback = await authorize(http, next_path=evil)
        r = await http.get(callback)
        assert r.status_code == 302 and r.headers["location"] == "/"
        http.cookies.delete("o2o_session")
    assert (await http.get("/auth/wechat", params={"scope": "snsapi_login"})).status_code == 400


async def test_jssdk_config_signs_our_page_with_the_ticket(http: httpx.AsyncClient) -> None:
    page = get_settings().base_url + "/stores?from=menu#top"
    r = await http.get("/api/wechat/jssdk-config", params={"url": page})
    assert r.status_code == 200, r.text
    cfg = r.json()
    assert cfg["appId"] == get_settings().wechat_appid and "getLocation" in cfg["jsApiList"]
    from core.redis import get_redis

    keys = [k.decode() for k in await get_redis().keys("wechat:oa:*jsapi_ticket")]
    assert keys, "the ticket is cached in Redis"
    ticket = (await get_redis().hget(keys[0], "v")).decode()
    assert cfg["signature"] == jsapi_signature(ticket, cfg["nonceStr"], cfg["timestamp"], page)
    second = (await http.get("/api/wechat/jssdk-config", params={"url": page})).json()
    assert (await get_redis().hget(keys[0], "v")).decode() == ticket and second["signature"] != ""
    r = await http.get("/api/wechat/jssdk-config", params={"url": "https://evil.example/page"})
    assert r.status_code == 400
