"""WeCom client against the sandbox over real HTTP: shared token, textcard/text recorded per staff userid."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from core import clock
from core.settings import get_settings
from wechat.errors import WeChatAPIError
from wechat.wecom import WeComApp


@pytest.fixture
async def api(live_app: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=get_settings().sandbox_base, timeout=30) as c:
        yield c


def app(**overrides: str) -> WeComApp:
    s = get_settings()
    # The sandbox serves WeCom under /qyapi (WeCom and the official account share /cgi-bin/ paths).
    assert s.wecom_api == s.sandbox_base + "/qyapi"
    base = s.wecom_api
    kwargs = {"corpid": s.wecom_corpid, "secret": s.wecom_secret, "agentid": s.wecom_agentid, **overrides}
    return WeComApp(kwargs["corpid"], kwargs["secret"], kwargs["agentid"], api_base=base)


async def test_textcard_recorded_per_staff_user(api: httpx.AsyncClient) -> None:
    result = await app().send_textcard(
        ["zhangsan", "lisi"],
        "新的急送订单待接",
        '<div class="gray">3 件商品</div><div class="highlight">距离 1.2 km</div>',
        "http://shop.test/staff/offers/9",
        btntxt="去接单",
    )
    assert result.msgid and result.invalid_users == []
    await app().send_text("zhangsan", "门店库存低：矿泉水")
    zhang = (await api.get("/api/wecom/messages", params={"touser": "zhangsan"})).json()
    assert [m["msgtype"] for m in zhang] == ["textcard", "text"]
    card = zhang[0]["content"]
    assert card == {
        "title": "新的急送订单待接",
        "description": '<div class="gray">3 件商品</div><div class="highlight">距离 1.2 km</div>',
        "url": "http://shop.test/staff/offers/9",
        "btntxt": "去接单",
    }
    assert zhang[0]["agentid"] == int(get_settings().wecom_agentid)
    li = (await api.get("/api/wecom/messages", params={"touser": "lisi"})).json()
    assert len(li) == 1 and li[0]["msgid"] == result.msgid
    recipients = {r["userid"]: r["messages"] for r in (await api.get("/api/wecom/users")).json()}
    assert recipients == {"zhangsan": 2, "lisi": 1}


async def test_token_shared_and_refreshed_once(api: httpx.AsyncClient) -> None:
    await api.put("/api/tokens/ttl", json={"kind": "wecom_token", "seconds": 100})
    await asyncio.gather(*(app().send_text(f"u{i}", "hi") for i in range(10)))
    state = (await api.get("/api/tokens", params={"kind": "wecom_token"})).json()
    assert state["fetches"] == 1
    clock.advance(150)
    await asyncio.gather(*(app().send_text(f"u{i}", "again") for i in range(10)))
    assert (await api.get("/api/tokens", params={"kind": "wecom_token"})).json()["fetches"] == 2
    await api.post("/api/tokens/expire", json={"kind": "wecom_token"})
    await asyncio.gather(*(app().send_text(f"u{i}", "third") for i in range(10)))
    assert (await api.get("/api/tokens", params={"kind": "wecom_token"})).json()["fetches"] == 3


async def test_wecom_refusals(api: httpx.AsyncClient) -> None:
    with pytest.raises(WeChatAPIError) as exc:
        await app(secret="wrong").send_text("u1", "x")
    assert exc.value.errcode == 40001
    with pytest.raises(WeChatAPIError) as exc:
        await app(corpid="wwOTHER").send_text("u1", "x")
    assert exc.value.errcode == 40013
    with pytest.raises(WeChatAPIError) as exc:
        await app(agentid="999").send_text("u1", "x")
    assert exc.value.errcode == 40056
    with pytest.raises(WeChatAPIError) as exc:
        await app().send_textcard("u1", "标题", "", "http://x")
    assert exc.value.errcode == 41017
    with pytest.raises(WeChatAPIError) as exc:
        await app().send_textcard("u1", "标题", "描述", "http://x", btntxt="太长的按钮文字")
    assert exc.value.errcode == 45002
    with pytest.raises(WeChatAPIError) as exc:
        await app().send_text([], "x")
    assert exc.value.errcode == 81013
    s = get_settings()
    async with httpx.AsyncClient() as c:
        base = s.sandbox_base + "/qyapi/cgi-bin/message/send"
        r = await c.post(base, params={"access_token": "A" * 64}, json={})
        assert r.json()["errcode"] == 40014  # WeCom's code for an unknown token
        r = await c.post(base, json={})
        assert r.json()["errcode"] == 41001
    assert (await api.get("/api/wecom/messages")).json() == []
