"""Answers through the sandbox: nearest stores after a location, keyword rules, intents, fallback, menu clicks."""

from __future__ import annotations

import httpx

from core import clock
from core.db import unit_of_work
from shop.services import nearest_stores
from tests.integration.engage.conftest import act, chat, customer_of, follower, rows, scalar, store
from tests.integration.orders.factories import BASE_LAT, BASE_LNG, north

AROUND = (2500, 300, 900, 1500, 600)  # metres north of the base point; the one at 900 m is closed (no hours)


async def _stores_around() -> dict[int, str]:
    """Store id -> name, in the order of AROUND."""
    ids = {}
    for metres in AROUND:
        lat, lng = north(metres)
        sid = await store(lat=lat, lng=lng, always_open=metres != 900)
        ids[sid] = (await rows("SELECT name FROM stores WHERE id = :i", i=sid))[0].name
    return ids


async def test_nearest_after_a_location_lists_the_right_three_open_stores(api: httpx.AsyncClient) -> None:
    names = await _stores_around()
    openid = await follower(api)
    d = await act(api, openid, "location", latitude=BASE_LAT, longitude=BASE_LNG, event=True)
    assert d["status"] == "ok"  # a LOCATION report gets no reply, only remembered
    clock.advance(1)

    d = await act(api, openid, "text", content="附近")

    assert d["status"] == "replied", d
    article = d["reply"]["articles"][0]
    async with unit_of_work() as s:
        expected = await nearest_stores(s, BASE_LAT, BASE_LNG, limit=3, open_now=True)
    expected_names = [names[e.store_id] for e in expected]
    lines = [ln for ln in article["description"].splitlines() if ln[:2] in ("1.", "2.", "3.")]
    assert [ln.split(" · ")[0][3:] for ln in lines] == expected_names
    at = dict(zip(AROUND, names.values(), strict=True))
    assert expected_names == [at[300], at[600], at[1500]]  # the closed one at 900 m is left out
    assert "300米" in lines[0] and "全天营业" in lines[0]
    assert names[expected[0].store_id] in article["title"]
    assert f"store%3D{expected[0].store_id}" in article["url"]
    customer = await customer_of(openid)
    f = (await rows("SELECT last_lat, last_lng FROM engage_followers WHERE customer_id = :c", c=customer.id))[0]
    assert (round(f.last_lat, 5), round(f.last_lng, 5)) == (round(BASE_LAT, 5), round(BASE_LNG, 5))


async def test_a_location_message_is_answered_with_the_nearest_stores(api: httpx.AsyncClient) -> None:
    names = await _stores_around()
    openid = await follower(api)
    lat, lng = north(1500)
    d = await act(api, openid, "location", latitude=lat, longitude=lng, label="人民广场")
    assert d["status"] == "replied"
    title = d["reply"]["articles"][0]["title"]
    assert names[list(names)[3]] in title and "（1米）" in title  # the store at 1.5 km is right there


async def test_no_location_yet_asks_for_one(api: httpx.AsyncClient) -> None:
    openid = await follower(api)
    d = await act(api, openid, "text", content="最近的店在哪")
    assert d["reply"]["msg_type"] == "text" and "位置" in d["reply"]["content"]


async def test_keyword_rules_by_priority_then_intents_then_fallback(
    api: httpx.AsyncClient, app_http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    async def rule(**body: object) -> dict:
        r = await app_http.post("/api/engage/rules", json=body, headers=admin)
        assert r.status_code == 201, r.text
        return r.json()

    low = await rule(match_type="contains", pattern="感冒", priority=1, reply_type="text", reply={"content": "低"})
    high = await rule(
        match_type="regex",
        pattern="感冒.*药",
        priority=9,
        reply_type="link",
        reply={"title": "感冒药专区", "path": "/category/cold"},
    )
    await rule(match_type="exact", pattern="HELLO", reply_type="text", reply={"content": "您好！"})
    openid = await follower(api)

    replies = []
    for text in ("我感冒了，买什么药", "感冒了", "  ｈｅｌｌｏ ", "订单", "今天天气怎么样"):
        clock.advance(1)
        replies.append((await act(api, openid, "text", content=text))["reply"])

    assert replies[0]["articles"][0]["title"] == "感冒药专区"
    assert (
        "next=%2Fcategory%2Fcold" in replies[0]["articles"][0]["url"]
        or "next=/category/cold" in replies[0]["articles"][0]["url"]
    )
    assert replies[1] == {"msg_type": "text", "content": "低"}
    assert replies[2]["content"] == "您好！"  # full-width, case and spaces do not matter for exact
    assert replies[3]["articles"][0]["title"] == "您还没有订单"  # built-in intent
    assert "客服" in replies[4]["content"]  # the fallback
    hits = dict((r.id, r.hits) for r in await rows("SELECT id, hits FROM engage_keyword_rules"))
    assert hits[high["id"]] == 1 and hits[low["id"]] == 1
    inbox = await app_http.get("/api/engage/inbox", headers=admin)
    assert [m["content"] for m in inbox.json()] == ["今天天气怎么样"]
    stats = (await app_http.get("/api/engage/stats/auto-answer", params={"days": 1}, headers=admin)).json()
    assert stats[0]["messages"] == 5 and stats[0]["auto_answered"] == 4 and stats[0]["share"] == 0.8


async def test_bad_rules_are_refused(app_http: httpx.AsyncClient, admin: dict[str, str], live_app: str) -> None:
    for body in (
        {"match_type": "regex", "pattern": "(a+)+$", "reply_type": "text", "reply": {"content": "x"}},
        {"match_type": "regex", "pattern": "([", "reply_type": "text", "reply": {"content": "x"}},
        {"match_type": "fuzzy", "pattern": "x", "reply_type": "text", "reply": {"content": "x"}},
        {"match_type": "exact", "pattern": "x", "reply_type": "news", "reply": {"title": "t", "url": "javascript:1"}},
        {"match_type": "exact", "pattern": "x", "reply_type": "intent", "reply": {"intent": "launch"}},
    ):
        r = await app_http.post("/api/engage/rules", json=body, headers=admin)
        assert r.status_code == 400, (body, r.text)
    assert await scalar("SELECT count(*) FROM engage_keyword_rules") == 0


async def test_menu_clicks_and_views(api: httpx.AsyncClient) -> None:
    await _stores_around()
    openid = await follower(api)
    await act(api, openid, "location", latitude=BASE_LAT, longitude=BASE_LNG, event=True)
    clock.advance(1)
    d = await act(api, openid, "click", key="NEAREST_STORES")
    assert d["reply"]["articles"][0]["title"].startswith("离您最近的门店")
    clock.advance(1)
    d = await act(api, openid, "click", key="MY_ORDERS")
    assert d["reply"]["articles"][0]["title"] == "您还没有订单"
    clock.advance(1)
    d = await act(api, openid, "click", key="SOMETHING_NEW")
    assert "即将上线" in d["reply"]["content"]
    clock.advance(1)
    d = await act(api, openid, "view", url="http://example.com/")
    assert d["status"] == "ok"
    assert len([m for m in await chat(api, openid) if m["kind"] == "reply"]) == 4  # welcome + three clicks
    # menu clicks are not customer messages: they do not count in the auto-answer share
    assert await scalar("SELECT count(*) FROM engage_messages WHERE needs_agent") == 0
