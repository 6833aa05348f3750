"""End to end through the WeChat sandbox: a new follower gets the new-customer coupon; the keyword answers with
the coupon card; its link signs the customer in and opens the claim page; claiming issues the coupon; the
expiry reminder arrives as a template message."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import httpx

from core import clock
from core.settings import get_settings
from tests.integration.coupons.helpers import rows, scalar
from tests.integration.engage.conftest import act, chat, customer_of, follower, run_jobs


async def _open_as(http: httpx.AsyncClient, url: str, openid: str) -> httpx.Response:
    """Open an account link in this WeChat user's browser: OAuth through the sandbox, then the page."""
    path = url[len(get_settings().base_url) :]
    r = await http.get(path)
    assert r.status_code == 302, r.text
    wechat = await http.get(r.headers["location"].split("#")[0] + "&" + urlencode({"sandbox_openid": openid}))
    assert wechat.status_code == 302, wechat.text
    back = await http.get(wechat.headers["location"])
    assert back.status_code == 302, back.text
    return await http.get(back.headers["location"])


async def test_follow_keyword_card_claim_page_claimed_and_reminded(
    api: httpx.AsyncClient, app_http: httpx.AsyncClient, http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    def template(**body: object) -> dict:
        return {"total_quota": 100, "valid_days": 7, **body}

    r = await app_http.post(
        "/api/admin/coupons/templates",
        json=template(title="新人专享8元", kind="newcomer", off_fen=800, claimable=False, auto_issue="subscribe"),
        headers=admin,
    )
    assert r.status_code == 201, r.text
    welcome = r.json()["id"]
    r = await app_http.post(
        "/api/admin/coupons/templates",
        json=template(title="满30减5", kind="threshold", threshold_fen=3000, off_fen=500, valid_days=1),
        headers=admin,
    )
    keyword_coupon = r.json()["id"]
    r = await app_http.post(
        "/api/engage/rules",
        json={
            "match_type": "exact",
            "pattern": "优惠券",
            "priority": 50,
            "reply_type": "coupon",
            "reply": {"coupon_template_id": keyword_coupon, "title": "送您一张满30减5优惠券"},
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    await app_http.put("/api/engage/templates", json={"coupon_expiring": "TPL_COUPON_EXPIRING"}, headers=admin)

    openid = await follower(api, "小红")
    customer = await customer_of(openid)
    got = await rows("SELECT template_id, source FROM customer_coupons WHERE customer_id = :c", c=customer.id)
    assert [(g.template_id, g.source) for g in got] == [(welcome, "subscribe")]

    d = await act(api, openid, "text", content="优惠券")
    assert d["status"] == "replied", d
    card = d["reply"]["articles"][0]
    assert card["title"] == "送您一张满30减5优惠券"
    assert f"%2Fcoupons%2Fclaim%2F{keyword_coupon}" in card["url"] or f"/coupons/claim/{keyword_coupon}" in card["url"]

    page = await _open_as(http, card["url"], openid)
    assert page.status_code == 200 and "立即领取" in page.text and "满30减5" in page.text
    r = await http.post(f"/api/coupons/claim/{keyword_coupon}")
    assert r.status_code == 201, r.text
    page = await http.get(f"/coupons/claim/{keyword_coupon}")
    assert "已领取" in page.text and "立即领取" not in page.text
    r = await http.post(f"/api/coupons/claim/{keyword_coupon}")
    assert r.status_code == 409 and r.json()["detail"] == "每人限领1张，您已领过了"
    centre = await http.get("/coupons")
    assert centre.status_code == 200 and "满30减5" in centre.text and "新人专享8元" in centre.text
    assert await scalar("SELECT count(*) FROM customer_coupons WHERE customer_id = :c", c=customer.id) == 2

    # The keyword coupon lasts one day: its reminder is due within the hour, its expiry after a day.
    clock.advance(timedelta(hours=1, minutes=1))
    await run_jobs()
    reminders = [m["body"] for m in await chat(api, openid, kind="template")]
    assert [m["template_id"] for m in reminders] == ["TPL_COUPON_EXPIRING"]
    assert "满30减5" in str(reminders[0])
    clock.advance(timedelta(days=1))
    await run_jobs()
    states = await rows(
        "SELECT template_id, state FROM customer_coupons WHERE customer_id = :c ORDER BY template_id", c=customer.id
    )
    assert [(s.template_id, s.state) for s in states] == [(welcome, "available"), (keyword_coupon, "expired")]


async def test_admin_issues_a_coupon_to_a_segment_once_per_follower(
    api: httpx.AsyncClient, app_http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    from tests.integration.engage.conftest import user_headers

    r = await app_http.post(
        "/api/admin/coupons/templates",
        json={
            "title": "回馈券",
            "kind": "cash",
            "off_fen": 300,
            "total_quota": 10,
            "valid_days": 3,
            "claimable": False,
        },
        headers=admin,
    )
    template_id = r.json()["id"]
    people = [await customer_of(await follower(api, name)) for name in ("甲", "乙")]
    path = f"/api/engage/coupons/{template_id}/issue-to-segment"
    _, staff = await user_headers("staff")
    assert (await app_http.post(path, json={"segment": {}}, headers=staff)).status_code == 403
    r = await app_http.post(path, json={"segment": {}}, headers=admin)
    assert r.status_code == 201, r.text
    assert (r.json()["issued"], r.json()["skipped"]) == (2, 0)
    r = await app_http.post(path, json={"segment": {}}, headers=admin)  # again: each already has one
    assert (r.json()["issued"], r.json()["skipped"]) == (0, 2)
    held = await rows("SELECT customer_id FROM customer_coupons WHERE source = 'segment' ORDER BY customer_id")
    assert [h.customer_id for h in held] == sorted(p.id for p in people)
    r = await app_http.post(path, json={"segment": {"bogus": 1}}, headers=admin)
    assert r.status_code == 400 and "unknown segment fields" in r.json()["detail"]
