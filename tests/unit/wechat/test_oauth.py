"""OAuth: authorize URL, state check, code exchange shapes."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from wechat.errors import OAuthCodeError, OAuthStateMismatch
from wechat.oauth import OAuthClient, check_state, new_state


def client(handler) -> OAuthClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return OAuthClient("wxAPP", "s3cret", api_base="http://api.test", open_base="http://open.test/sandbox", http=http)


def test_authorize_url() -> None:
    c = client(lambda r: httpx.Response(500))
    url = c.authorize_url("http://shop.test/auth/callback?next=/cart", "abc123", "snsapi_userinfo")
    assert url.startswith("http://open.test/sandbox/connect/oauth2/authorize?appid=wxAPP&redirect_uri=")
    assert url.endswith("#wechat_redirect")
    parts = urlsplit(url)
    q = parse_qs(parts.query)
    assert q == {
        "appid": ["wxAPP"],
        "redirect_uri": ["http://shop.test/auth/callback?next=/cart"],
        "response_type": ["code"],
        "scope": ["snsapi_userinfo"],
        "state": ["abc123"],
    }
    assert "redirect_uri=http%3A%2F%2Fshop.test%2Fauth%2Fcallback%3Fnext%3D%2Fcart" in url
    with pytest.raises(ValueError):
        c.authorize_url("http://x", "s", "snsapi_login")


def test_state() -> None:
    s = new_state()
    assert len(s) == 32 and s.isalnum()
    check_state(s, s)
    for bad in (None, "", s[:-1] + "0" if s[-1] != "0" else s[:-1] + "1"):
        with pytest.raises(OAuthStateMismatch):
            check_state(s, bad)
    with pytest.raises(OAuthStateMismatch):
        check_state(None, s)


async def test_exchange_and_userinfo() -> None:
    seen: list[httpx.Request] = []

    def handler(r: httpx.Request) -> httpx.Response:
        seen.append(r)
        if r.url.path == "/sns/oauth2/access_token":
            if r.url.params["code"] == "used":
                return httpx.Response(200, json={"errcode": 40163, "errmsg": "code been used"})
            return httpx.Response(
                200,
                json={
                    "access_token": "UAT",
                    "expires_in": 7200,
                    "refresh_token": "R",
                    "openid": "oU1",
                    "scope": "snsapi_userinfo",
                },
            )
        return httpx.Response(200, json={"openid": "oU1", "nickname": "小明", "sex": 1, "headimgurl": "http://h"})

    c = client(handler)
    token = await c.exchange_code("CODE")
    assert token.openid == "oU1" and token.scope == "snsapi_userinfo"
    assert dict(seen[0].url.params) == {
        "appid": "wxAPP",
        "secret": "s3cret",
        "code": "CODE",
        "grant_type": "authorization_code",
    }
    info = await c.userinfo(token)
    assert info.nickname == "小明" and info.sex == 1
    with pytest.raises(OAuthCodeError) as exc:
        await c.exchange_code("used")
    assert exc.value.errcode == 40163
