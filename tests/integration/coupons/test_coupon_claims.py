"""Claiming under concurrency and limits: the quota is never exceeded, refusals say why and leave nothing behind."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from httpx import AsyncClient

from core import clock
from core.db import get_engine, sessionmaker
from shop.coupons.claim_coupon import claim_coupon
from shop.coupons.errors import ClaimRefused, TemplateNotFound
from tests.integration.coupons.helpers import customers, scalar, template
from tests.integration.orders.factories import customer_headers, world


async def _claim(customer_id: int, template_id: int) -> str:
    """One claim in its own session and transaction from the app's sessionmaker."""
    try:
        async with sessionmaker()() as s, s.begin():
            await claim_coupon(s, customer_id, template_id)
        return "ok"
    except ClaimRefused as exc:
        return exc.reason


async def test_64_concurrent_claims_of_a_quota_of_1_issue_exactly_1(clean: None) -> None:
    w = await world()
    people = await customers(w.account_id, 64)
    t = await template(total_quota=1)
    results = await asyncio.gather(*(_claim(c, t) for c in people))
    assert results.count("ok") == 1
    assert set(results) == {"ok", "sold_out"}
    assert await scalar("SELECT issued FROM coupon_templates WHERE id = :t", t=t) == 1
    assert await scalar("SELECT count(*) FROM customer_coupons") == 1


async def test_500_concurrent_claims_over_a_big_pool_issue_exactly_the_quota_of_100(clean: None) -> None:
    pool = get_engine().pool
    assert pool.size() + pool._max_overflow >= 50  # type: ignore[attr-defined]
    w = await world()
    people = await customers(w.account_id, 500)
    t = await template(total_quota=100)
    results = await asyncio.gather(*(_claim(c, t) for c in people))
    assert results.count("ok") == 100 and results.count("sold_out") == 400
    assert await scalar("SELECT issued FROM coupon_templates WHERE id = :t", t=t) == 100
    assert await scalar("SELECT count(*) FROM customer_coupons WHERE template_id = :t", t=t) == 100
    assert await scalar("SELECT count(DISTINCT customer_id) FROM customer_coupons") == 100


async def test_one_customer_claiming_concurrently_gets_only_the_per_customer_limit(clean: None) -> None:
    w = await world()
    t = await template(total_quota=50, per_customer_limit=2)
    results = await asyncio.gather(*(_claim(w.customer_id, t) for _ in range(20)))
    # Concurrent claims by one person race for the same seq: the constraint lets one through per seq.
    won = results.count("ok")
    assert 1 <= won <= 2 and set(results) == {"ok", "per_customer_limit"}
    # the losers' quota units were given back with their failed statements
    assert await scalar("SELECT issued FROM coupon_templates WHERE id = :t", t=t) == won
    while await _claim(w.customer_id, t) == "ok":
        pass
    assert await scalar("SELECT count(*) FROM customer_coupons") == 2
    assert await scalar("SELECT issued FROM coupon_templates WHERE id = :t", t=t) == 2


async def test_per_day_limit_resets_the_next_day(clean: None) -> None:
    w = await world()
    t = await template(total_quota=50, per_customer_limit=3, per_day_limit=1)
    assert await _claim(w.customer_id, t) == "ok"
    assert await _claim(w.customer_id, t) == "per_day_limit"
    clock.advance(timedelta(days=1))
    assert await _claim(w.customer_id, t) == "ok"


async def test_window_quota_and_unknown_template_refusals_in_chinese_over_http(client: AsyncClient) -> None:
    w = await world()
    other = (await customers(w.account_id, 1))[0]
    now = clock.now()
    later = await template(claim_starts_at=now + timedelta(hours=2))
    ended = await template(claim_starts_at=now - timedelta(days=2), claim_ends_at=now - timedelta(days=1))
    one = await template(total_quota=1)
    me, them = customer_headers(w.customer_id), customer_headers(other)

    r = await client.post(f"/api/coupons/claim/{later}", headers=me)
    assert r.status_code == 409 and "领取还没开始" in r.json()["detail"]
    r = await client.post(f"/api/coupons/claim/{ended}", headers=me)
    assert r.status_code == 409 and r.json()["detail"] == "领取时间已过，活动已结束"
    r = await client.post(f"/api/coupons/claim/{one}", headers=me)
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/coupons/claim/{one}", headers=me)
    assert r.status_code == 409 and r.json()["detail"] == "每人限领1张，您已领过了"
    r = await client.post(f"/api/coupons/claim/{one}", headers=them)
    assert r.status_code == 409 and r.json()["detail"] == "手慢了，优惠券已被抢光"
    r = await client.post("/api/coupons/claim/999999", headers=me)
    assert r.status_code == 404 and "不存在" in r.json()["detail"]
    assert await scalar("SELECT count(*) FROM customer_coupons") == 1
    assert await scalar("SELECT sum(issued) FROM coupon_templates") == 1

    centre = (await client.get("/api/coupons/centre", headers=them)).json()
    by_id = {x["template_id"]: x for x in centre}
    assert ended not in by_id
    assert by_id[one]["can_claim"] is False and by_id[one]["reason"] == "已抢光"
    assert by_id[later]["can_claim"] is False and "开抢" in by_id[later]["reason"]

    mine = (await client.get("/api/coupons/mine", params={"state": "usable"}, headers=me)).json()
    assert mine["total"] == 1 and mine["items"][0]["template_id"] == one and len(mine["items"][0]["code"]) == 12
    assert (await client.get("/api/coupons/mine", params={"state": "bogus"}, headers=me)).status_code == 400


async def test_admin_issue_skips_refusals_without_failing(clean: None) -> None:
    from core.db import unit_of_work
    from shop.audit import SYSTEM
    from shop.coupons.issue_coupons import issue_to

    w = await world()
    people = await customers(w.account_id, 5)
    t = await template(total_quota=3, claimable=False)
    async with unit_of_work() as s:
        out = await issue_to(s, t, [*people, people[0]], SYSTEM, source="admin")
    assert (out.issued, out.skipped) == (3, 2)
    assert await scalar("SELECT count(*) FROM customer_coupons WHERE source = 'admin'") == 3
    # not claimable by customers themselves
    assert await _claim(people[4], t) == "not_active"
    with pytest.raises(TemplateNotFound):
        async with unit_of_work() as s:
            await claim_coupon(s, people[4], 424242)
