"""Official-account client against a scripted transport: token handling, retries, request shapes."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from wechat import official_base
from wechat.errors import AccessTokenError, CustomerServiceWindowClosed, WeChatAPIError, WeChatTransportError
from wechat.official import OfficialAccount, template_data


class Script:
    """A fake WeChat: records requests and answers from a function."""

    def __init__(self, answer) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer
        self.tokens_issued = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/cgi-bin/stable_token"):
            self.tokens_issued += 1
            return httpx.Response(200, json={"access_token": f"TOKEN{self.tokens_issued}", "expires_in": 7200})
        return self.answer(request)

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


@pytest.fixture(autouse=True)
def no_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis down: the clients fall back to a per-process token (what this file tests is the rest)."""

    def down() -> Any:
        raise RedisConnectionError("no redis in unit tests")

    monkeypatch.setattr(official_base, "get_redis", down)


def account(script: Script) -> OfficialAccount:
    http = httpx.AsyncClient(transport=httpx.MockTransport(script.handler))
    return OfficialAccount("wxAPP", "s3cret", api_base="http://wx.test/sandbox", mp_base="http://mp.test", http=http)


async def test_token_fetched_once_and_reused() -> None:
    script = Script(lambda r: httpx.Response(200, json={"errcode": 0, "errmsg": "ok"}))
    oa = account(script)
    await oa.create_menu({"button": [{"type": "click", "name": "今日", "key": "TODAY"}]})
    await oa.delete_menu()
    assert script.tokens_issued == 1
    token_req = script.requests[0]
    assert json.loads(token_req.content) == {
        "grant_type": "client_credential",
        "appid": "wxAPP",
        "secret": "s3cret",
        "force_refresh": False,
    }
    menu_req = script.requests[1]
    assert menu_req.url.path == "/sandbox/cgi-bin/menu/create"
    assert menu_req.url.params["access_token"] == "TOKEN1"
    assert "今日".encode() in menu_req.content  # UTF-8, not \\u escapes


async def test_token_error_refreshes_and_retries_once() -> None:
    calls = {"n": 0}

    def answer(r: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if r.url.params["access_token"] == "TOKEN1":
            return httpx.Response(200, json={"errcode": 42001, "errmsg": "access_token expired"})
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "msgid": 77})

    script = Script(answer)
    oa = account(script)
    assert await oa.send_template("oU", "TPL", {"first": "您好", "amount": {"value": "¥1.00"}}) == 77
    assert script.tokens_issued == 2 and calls["n"] == 2
    body = json.loads(script.requests[-1].content)
    assert body["data"] == {"first": {"value": "您好"}, "amount": {"value": "¥1.00"}}


async def test_token_error_twice_gives_up() -> None:
    script = Script(lambda r: httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"}))
    oa = account(script)
    with pytest.raises(AccessTokenError) as exc:
        await oa.get_menu()
    assert exc.value.errcode == 40001
    assert script.tokens_issued == 2
    assert len(script.requests) == 4  # token, call, token, call: never a third attempt


async def test_other_errcodes_are_typed_and_not_retried() -> None:
    script = Script(lambda r: httpx.Response(200, json={"errcode": 45015, "errmsg": "response out of time limit"}))
    oa = account(script)
    with pytest.raises(CustomerServiceWindowClosed) as exc:
        await oa.send_text("oU", "hi")
    assert exc.value.errcode == 45015 and "45015" in str(exc.value)
    assert len(script.requests) == 2


async def test_transport_errors_do_not_leak_the_query() -> None:
    def boom(r: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=r)

    oa = account(Script(boom))
    with pytest.raises(WeChatTransportError) as exc:
        await oa.get_tags()
    assert "TOKEN" not in str(exc.value) and "/cgi-bin/tags/get" in str(exc.value)

    oa = account(Script(lambda r: httpx.Response(502, text="bad gateway")))
    with pytest.raises(WeChatTransportError):
        await oa.get_tags()
    oa = account(Script(lambda r: httpx.Response(200, text="<html>")))
    with pytest.raises(WeChatTransportError):
        await oa.get_tags()


async def test_token_fetch_failure_is_typed() -> None:
    def handler(r: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"errcode": 40125, "errmsg": "invalid appsecret"})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    oa = OfficialAccount("wxAPP", "bad", api_base="http://wx.test", mp_base="http://mp.test", http=http)
    with pytest.raises(WeChatAPIError) as exc:
        await oa.get_menu()
    assert exc.value.errcode == 40125


async def test_qrcode_shapes() -> None:
    def answer(r: httpx.Request) -> httpx.Response:
        body = json.loads(r.content)
        assert body["action_name"] in ("QR_STR_SCENE", "QR_LIMIT_SCENE")
        return httpx.Response(
            200,
            json={
                "ticket": "gQH/8D==",
                "expire_seconds": body.get("expire_seconds"),
                "url": "http://weixin.qq.com/q/x",
            },
        )

    script = Script(answer)
    oa = account(script)
    qr = await oa.create_qrcode("store:12", expire_seconds=10**9)
    sent = json.loads(script.requests[-1].content)
    assert sent == {
        "action_name": "QR_STR_SCENE",
        "action_info": {"scene": {"scene_str": "store:12"}},
        "expire_seconds": 2592000,
    }
    assert qr.image_url == "http://mp.test/cgi-bin/showqrcode?ticket=gQH%2F8D%3D%3D"
    await oa.create_qrcode(7, permanent=True)
    sent = json.loads(script.requests[-1].content)
    assert sent == {"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 7}}}
    with pytest.raises(ValueError):
        await oa.create_qrcode("x" * 65)


async def test_menu_limits_checked_locally() -> None:
    oa = account(Script(lambda r: httpx.Response(200, json={"errcode": 0})))
    with pytest.raises(ValueError):
        await oa.create_menu({"button": [{"type": "click", "name": str(i), "key": str(i)} for i in range(4)]})


async def test_tags_and_mass() -> None:
    def answer(r: httpx.Request) -> httpx.Response:
        path = r.url.path
        if path.endswith("tags/create"):
            return httpx.Response(200, json={"tag": {"id": 100, "name": "会员"}})
        if path.endswith("tags/getidlist"):
            return httpx.Response(200, json={"tagid_list": [100, 101]})
        if path.endswith("user/tag/get"):
            return httpx.Response(200, json={"count": 2, "data": {"openid": ["a", "b"]}, "next_openid": "b"})
        if path.endswith("mass/sendall"):
            return httpx.Response(200, json={"errcode": 0, "errmsg": "send job submission success", "msg_id": 34})
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

    script = Script(answer)
    oa = account(script)
    assert await oa.create_tag("会员") == 100
    await oa.tag_users(100, ["a", "b"])
    assert json.loads(script.requests[-1].content) == {"openid_list": ["a", "b"], "tagid": 100}
    assert await oa.user_tags("a") == [100, 101]
    assert await oa.tag_members(100) == (["a", "b"], "b")
    assert await oa.send_mass_text("周末特惠", tag_id=100) == 34
    assert json.loads(script.requests[-1].content)["filter"] == {"is_to_all": False, "tag_id": 100}


def test_template_data_normalised() -> None:
    assert template_data({"a": 1, "b": {"value": "x", "color": "#f00"}}) == {
        "a": {"value": "1"},
        "b": {"value": "x", "color": "#f00"},
    }


def test_mask() -> None:
    assert official_base.mask("ACCESS_TOKEN_VALUE") == "ACCESS…"
    assert official_base.mask(None) == ""
