"""Web-page OAuth against the sandbox over real HTTP: authorize redirect, single-use 5-minute codes, user info."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core import clock
from core.settings import get_settings
from wechat.errors import OAuthCodeError, WeChatAPIError
from wechat.oauth import SCOPE_USERINFO, OAuthClient, check_state, new_state


@pytest.fixture
async def api(live_app: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=get_settings().sandbox_base, timeout=30) as c:
        yield c


async def user(api: httpx.AsyncClient, nickname: str = "小明") -> str:
    r = await api.post("/api/users", json={"nickname": nickname})
    assert r.status_code == 201, r.text
    return str(r.json()["openid"])


def authorize_request(client: OAuthClient, redirect: str, state: str, scope: str = "snsapi_base") -> str:
    url = client.authorize_url(redirect, state, scope)
    return url.split("#", 1)[0]  # a browser never sends the fragment


async def sign_in(url: str, openid: str) -> tuple[str, str]:
    """What the browser does: authorize with a signed-in user, follow to the redirect; returns (code, state)."""
    async with httpx.AsyncClient(cookies={"sandbox_openid": openid}) as browser:
        r = await browser.get(url, follow_redirects=False)
    assert r.status_code == 302, r.text
    location = r.headers["location"]
    q = parse_qs(urlsplit(location).query)
    return q["code"][0], q["state"][0]


async def test_code_is_single_use(api: httpx.AsyncClient) -> None:
    openid = await user(api)
    client = OAuthClient.from_settings()
    state = new_state()
    redirect = get_settings().base_url + "/auth/wechat/callback?next=%2Fcart"
    code, returned_state = await sign_in(authorize_request(client, redirect, state), openid)
    check_state(state, returned_state)
    token = await client.exchange_code(code)
    assert token.openid == openid and token.scope == "snsapi_base"
    with pytest.raises(OAuthCodeError) as exc:
        await client.exchange_code(code)
    assert exc.value.errcode == 40163
    with pytest.raises(OAuthCodeError) as exc:
        await client.exchange_code("not-a-code")
    assert exc.value.errcode == 40029


async def test_code_exchanged_once_under_a_race(api: httpx.AsyncClient) -> None:
    openid = await user(api)
    code = (await api.post("/api/oauth/code", json={"openid": openid})).json()["code"]
    client = OAuthClient.from_settings()
    results = await asyncio.gather(*(client.exchange_code(code) for _ in range(10)), return_exceptions=True)
    assert sum(1 for r in results if not isinstance(r, Exception)) == 1
    assert all(isinstance(r, OAuthCodeError) and r.errcode == 40163 for r in results if isinstance(r, Exception))


async def test_code_expires_after_5_minutes(api: httpx.AsyncClient) -> None:
    openid = await user(api)
    client = OAuthClient.from_settings()
    url = authorize_request(client, "http://shop.test/cb", "s1")
    code, _ = await sign_in(url, openid)
    clock.advance(299)
    assert (await client.exchange_code(code)).openid == openid
    code, _ = await sign_in(url, openid)
    clock.advance(301)
    with pytest.raises(OAuthCodeError) as exc:
        await client.exchange_code(code)
    assert exc.value.errcode == 40029


async def test_redirect_keeps_query_and_state(api: httpx.AsyncClient) -> None:
    openid = await user(api)
    client = OAuthClient.from_settings()
    url = authorize_request(client, "http://shop.test/cb?next=/orders/7", "abc_123-X")
    async with httpx.AsyncClient(cookies={"sandbox_openid": openid}) as browser:
        r = await browser.get(url)
    location = urlsplit(r.headers["location"])
    assert (location.scheme, location.netloc, location.path) == ("http", "shop.test", "/cb")
    q = parse_qs(location.query)
    assert q["next"] == ["/orders/7"] and q["state"] == ["abc_123-X"] and len(q["code"][0]) == 32


async def test_userinfo_needs_userinfo_scope(api: httpx.AsyncClient) -> None:
    openid = await user(api, "王姐")
    client = OAuthClient.from_settings()
    code, _ = await sign_in(authorize_request(client, "http://shop.test/cb", "s", SCOPE_USERINFO), openid)
    token = await client.exchange_code(code)
    info = await client.userinfo(token)
    assert info.openid == openid and info.nickname == "王姐" and info.unionid
    async with httpx.AsyncClient() as c:
        avatar = await c.get(info.headimgurl)
    assert avatar.status_code == 200 and avatar.headers["content-type"].startswith("image/svg+xml")
    code, _ = await sign_in(authorize_request(client, "http://shop.test/cb", "s"), openid)
    base_token = await client.exchange_code(code)
    with pytest.raises(WeChatAPIError) as exc:
        await client.userinfo(base_token)
    assert exc.value.errcode == 48001


async def test_picker_page_when_no_user_is_signed_in(api: httpx.AsyncClient) -> None:
    openid = await user(api, "李老师")
    client = OAuthClient.from_settings()
    url = authorize_request(client, "http://shop.test/cb", "st", SCOPE_USERINFO)
    async with httpx.AsyncClient() as browser:
        page = await browser.get(url)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "李老师" in page.text and "shop.test" in page.text and "昵称" in page.text
        # Pick the user from the page: the link carries sandbox_openid; a cookie is set for next time.
        r = await browser.get(url + f"&sandbox_openid={openid}", follow_redirects=False)
        assert r.status_code == 302 and browser.cookies.get("sandbox_openid") == openid
        # Create a user from the page.
        r = await browser.get(url + "&sandbox_new=%E6%96%B0%E4%BA%BA", follow_redirects=False)
        code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
    token = await client.exchange_code(code)
    assert token.openid != openid
    assert (await client.userinfo(token)).nickname == "新人"


async def test_bad_authorize_requests_get_an_error_page(api: httpx.AsyncClient) -> None:
    base = get_settings().sandbox_base + "/connect/oauth2/authorize"
    s = get_settings()
    cases = {
        "appid=wxUNKNOWN&redirect_uri=http%3A%2F%2Fx&response_type=code&scope=snsapi_base&state=s": "10002",
        f"appid={s.wechat_appid}&redirect_uri=http%3A%2F%2Fx&response_type=code&scope=snsapi_login&state=s": "10005",
        f"appid={s.wechat_appid}&redirect_uri=javascript%3Aalert(1)&response_type=code&scope=snsapi_base": "10003",
        f"appid={s.wechat_appid}&redirect_uri=http%3A%2F%2Fx&response_type=token&scope=snsapi_base": "10002",
        f"appid={s.wechat_appid}&redirect_uri=http%3A%2F%2Fx&response_type=code&scope=snsapi_base&state=%3Cx%3E": "10002",
    }
    async with httpx.AsyncClient() as browser:
        for query, errcode in cases.items():
            r = await browser.get(f"{base}?{query}")
            assert r.status_code == 400 and errcode in r.text, query
            assert "<x>" not in r.text


async def test_exchange_checks_app_credentials(api: httpx.AsyncClient) -> None:
    openid = await user(api)
    code = (await api.post("/api/oauth/code", json={"openid": openid})).json()["code"]
    s = get_settings()
    wrong = OAuthClient(s.wechat_appid, "wrong", api_base=s.wechat_api, open_base=s.wechat_open)
    with pytest.raises(WeChatAPIError) as exc:
        await wrong.exchange_code(code)
    assert exc.value.errcode == 40125
    assert (await OAuthClient.from_settings().exchange_code(code)).openid == openid  # not consumed by the refusal
