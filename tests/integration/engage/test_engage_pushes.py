"""Targeted pushes: a segment (tag, region, last order) reaches exactly its members in the sandbox."""

from __future__ import annotations

from datetime import timedelta

import httpx

from core import clock
from core.db import unit_of_work
from orders.checkout import CheckoutRequest, LineIn
from orders.mark_paid import mark_paid
from orders.place_order import place_order
from shop.services import set_tags
from tests.integration.engage.conftest import act, chat, customer_of, execute, follower, run_jobs, store
from tests.integration.orders.factories import list_sku, make_sku, make_store, north


async def _people(api: httpx.AsyncClient) -> tuple[int, dict[str, str]]:
    """A store at the base point and five sandbox users: who is tagged, near, following."""
    store_id = await store()
    people = {}
    for name, tags, metres, follows in (
        ("near_vip", ["vip"], 500, True),
        ("far_vip", ["vip"], 20_000, True),
        ("near_plain", [], 800, True),
        ("gone_vip", ["vip"], 300, False),
        ("nowhere_vip", ["vip", "new"], None, True),
    ):
        openid = await follower(api, name)
        if metres is not None:
            lat, lng = north(metres)
            await act(api, openid, "location", latitude=lat, longitude=lng, event=True)
        if not follows:
            clock.advance(1)
            await act(api, openid, "unfollow")
        customer = await customer_of(openid)
        async with unit_of_work() as s:
            await set_tags(s, customer.id, tags)
        people[name] = openid
    return store_id, people


async def _push(app_http: httpx.AsyncClient, admin: dict[str, str], **body: object) -> dict:
    r = await app_http.post("/api/engage/pushes", json=body, headers=admin)
    assert r.status_code == 202, r.text
    await run_jobs()
    log = (await app_http.get("/api/engage/pushes", headers=admin)).json()
    return next(p for p in log if p["id"] == r.json()["id"])


async def _who_got(api: httpx.AsyncClient, people: dict[str, str], kind: str) -> set[str]:
    return {name for name, openid in people.items() if await chat(api, openid, kind=kind)}


async def test_a_template_push_to_tag_and_region_reaches_exactly_its_members(
    api: httpx.AsyncClient, app_http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    store_id, people = await _people(api)
    segment = {"tags": ["vip"], "store_id": store_id, "within_km": 3}
    preview = (await app_http.post("/api/engage/segments/preview", json={"segment": segment}, headers=admin)).json()
    assert preview["count"] == 1

    push = await _push(
        app_http,
        admin,
        name="会员日",
        segment=segment,
        mode="template",
        content={"template_id": "TPL_PROMO", "data": {"first": "会员日全场九折", "remark": "本周六"}, "url": "/"},
    )

    assert await _who_got(api, people, "template") == {"near_vip"}
    assert (push["status"], push["recipients"], push["sent"], push["failed"]) == ("done", 1, 1, 0)
    [message] = await chat(api, people["near_vip"], kind="template")
    assert (
        message["body"]["template_id"] == "TPL_PROMO" and message["body"]["data"]["first"]["value"] == "会员日全场九折"
    )


async def test_a_custom_push_respects_the_48_hour_window(
    api: httpx.AsyncClient, app_http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    _, people = await _people(api)
    # Only far_vip acted in the last 48 h (moved in the data: PyJWT checks a token's iat in real time).
    far = await customer_of(people["far_vip"])
    await execute(
        "UPDATE engage_followers SET last_interaction_at = :t WHERE customer_id <> :c",
        t=clock.now() - timedelta(hours=50),
        c=far.id,
    )

    push = await _push(
        app_http, admin, name="到店提醒", segment={"tags": ["vip"]}, mode="custom", content={"text": "新品到店"}
    )

    assert await _who_got(api, people, "custom") == {"far_vip"}
    assert (push["recipients"], push["sent"], push["skipped"]) == (3, 1, 2)  # near_vip and nowhere_vip: window closed


async def test_segments_by_last_order_date(
    api: httpx.AsyncClient, app_http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    _, people = await _people(api)
    near = await customer_of(people["near_vip"])
    async with unit_of_work() as s:
        store_id = await make_store(s)
        sku_id = await make_sku(s)
        await list_sku(s, store_id, sku_id)
        placed = await place_order(s, near.id, CheckoutRequest(store_id, "pickup", [LineIn(sku_id, 1)]), "engage-seg-1")
        await mark_paid(s, placed.order_id, "wx-seg-1", clock.now() - timedelta(days=10))
    await execute("UPDATE orders SET paid_at = :t", t=clock.now() - timedelta(days=10))

    async def count(segment: dict) -> int:
        r = await app_http.post("/api/engage/segments/preview", json={"segment": segment}, headers=admin)
        assert r.status_code == 200, r.text
        return int(r.json()["count"])

    assert await count({"ordered_within_days": 30}) == 1
    assert await count({"ordered_within_days": 7}) == 0
    assert await count({"no_order_within_days": 30}) == 3  # the other followers (gone_vip left)
    for bad in ({"within_km": 3}, {"tags": "vip"}, {"ordered_within_days": 0}, {"colour": "red"}):
        r = await app_http.post("/api/engage/segments/preview", json={"segment": bad}, headers=admin)
        assert r.status_code == 400, bad


async def test_a_mass_send_by_tag_reaches_the_tag_members(
    api: httpx.AsyncClient, app_http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    _, people = await _people(api)
    push = await _push(
        app_http, admin, name="群发", segment={"tags": ["vip"]}, mode="mass", content={"text": "周末特惠"}
    )
    assert push["status"] == "done", push
    assert await _who_got(api, people, "mass") == {"near_vip", "far_vip", "nowhere_vip"}
    tags = (await api.get("/api/tags")).json()
    assert [(t["name"], len(t["openids"])) for t in tags] == [("vip", 3)]
    r = await app_http.post(
        "/api/engage/pushes",
        json={
            "name": "x",
            "segment": {"tags": ["vip"], "within_km": 1, "store_id": 1},
            "mode": "mass",
            "content": {"text": "x"},
        },
        headers=admin,
    )
    assert r.status_code == 400  # a mass send goes to one tag, nothing narrower
