"""WeCom client against a scripted transport."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from wechat import official_base
from wechat.wecom import WeComApp


@pytest.fixture(autouse=True)
def no_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    def down() -> Any:
        raise RedisConnectionError("no redis in unit tests")

    monkeypatch.setattr(official_base, "get_redis", down)


async def test_textcard_and_token_retry() -> None:
    seen: list[httpx.Request] = []
    issued = {"n": 0}

    def handler(r: httpx.Request) -> httpx.Response:
        seen.append(r)
        if r.url.path.endswith("/gettoken"):
            issued["n"] += 1
            return httpx.Response(200, json={"errcode": 0, "access_token": f"W{issued['n']}", "expires_in": 7200})
        if r.url.params["access_token"] == "W1":
            return httpx.Response(200, json={"errcode": 42001, "errmsg": "access_token expired"})
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "invaliduser": "ghost", "msgid": "M1"})

    app = WeComApp(
        "wwCORP",
        "sec",
        "1000002",
        api_base="http://qy.test/sandbox/qyapi",
        http=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    result = await app.send_textcard(["zhang", "ghost"], "新订单待接", "<div>3 件</div>", "http://x/staff")
    assert result.msgid == "M1" and result.invalid_users == ["ghost"]
    assert seen[0].url.path == "/sandbox/qyapi/cgi-bin/gettoken"
    assert dict(seen[0].url.params) == {"corpid": "wwCORP", "corpsecret": "sec"}
    body = json.loads(seen[-1].content)
    assert body == {
        "touser": "zhang|ghost",
        "msgtype": "textcard",
        "agentid": 1000002,
        "textcard": {
            "title": "新订单待接",
            "description": "<div>3 件</div>",
            "url": "http://x/staff",
            "btntxt": "详情",
        },
    }
    assert issued["n"] == 2
