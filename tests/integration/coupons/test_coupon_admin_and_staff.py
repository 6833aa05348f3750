"""Admin templates (checks, quota never below issued, delete only unused, usage report, audit), staff redemption
only at their own stores, and customers seeing only their own coupons."""

from __future__ import annotations

from httpx import AsyncClient

from core.db import unit_of_work
from shop.coupons.claim_coupon import claim_coupon
from tests.integration.coupons.helpers import customers, rows, scalar, template
from tests.integration.orders.factories import customer_headers, make_store, staff_user, world


async def test_admin_creates_checks_changes_and_reports(client: AsyncClient) -> None:
    _, admin = await staff_user("boss", "admin")
    _, staff = await staff_user("clerk", "staff")
    body = {
        "title": "满50减10",
        "kind": "threshold",
        "threshold_fen": 5000,
        "off_fen": 1000,
        "total_quota": 2,
        "valid_days": 3,
    }
    r = await client.post("/api/admin/coupons/templates", json=body, headers=staff)
    assert r.status_code == 403
    for bad, why in (
        ({**body, "off_fen": 6000}, "off_fen <= threshold_fen"),
        ({**body, "valid_until": "2030-01-01T00:00:00+08:00"}, "either valid_days"),
        ({**body, "scope": "products"}, "at least one id"),
        ({**body, "off_fen": 10.5}, "Expected `int`"),
        ({**body, "total_quota": 0}, ""),
    ):
        r = await client.post("/api/admin/coupons/templates", json=bad, headers=admin)
        assert r.status_code == 400 and why in r.text, (bad, r.text)
    r = await client.post("/api/admin/coupons/templates", json=body, headers=admin)
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["value"] == "满50减10" and t["issued"] == 0

    w = await world()
    people = await customers(w.account_id, 2)
    async with unit_of_work() as s:
        for c in people:
            await claim_coupon(s, c, t["id"])
    r = await client.patch(f"/api/admin/coupons/templates/{t['id']}", json={"total_quota": 1}, headers=admin)
    assert r.status_code == 409 and "cannot go below" in r.json()["detail"]
    r = await client.patch(
        f"/api/admin/coupons/templates/{t['id']}", json={"total_quota": 5, "status": "paused"}, headers=admin
    )
    assert r.status_code == 200 and (r.json()["total_quota"], r.json()["status"]) == (5, "paused")
    assert (await client.delete(f"/api/admin/coupons/templates/{t['id']}", headers=admin)).status_code == 409
    unused = await template()
    assert (await client.delete(f"/api/admin/coupons/templates/{unused}", headers=admin)).status_code == 204

    report = (await client.get("/api/admin/coupons/report", headers=admin)).json()
    assert [(x["template_id"], x["issued"], x["available"], x["used"]) for x in report] == [(t["id"], 2, 2, 0)]
    audit = await rows("SELECT action FROM shop_audit_log WHERE entity = 'coupon_template' ORDER BY id")
    assert [a.action for a in audit][-3:] == [
        "coupon_template.update",
        "coupon_template.create",
        "coupon_template.delete",
    ]


async def test_staff_redeem_only_at_their_store_once(client: AsyncClient) -> None:
    w = await world()
    async with unit_of_work() as s:
        elsewhere = await make_store(s)
    _, clerk = await staff_user("clerk", "staff", [w.store_id])
    t = await template(title="到店券", off_fen=300)
    async with unit_of_work() as s:
        coupon_id = (await claim_coupon(s, w.customer_id, t)).coupon_id
    code = await scalar("SELECT code FROM customer_coupons WHERE id = :i", i=coupon_id)

    r = await client.post("/api/staff/coupons/redeem", json={"store_id": elsewhere, "code": code}, headers=clerk)
    assert r.status_code == 403
    r = await client.get(f"/api/staff/coupons/{code}", params={"store_id": w.store_id}, headers=clerk)
    assert r.status_code == 200 and r.json()["title"] == "到店券"
    r = await client.post("/api/staff/coupons/redeem", json={"store_id": w.store_id, "code": code}, headers=clerk)
    assert r.status_code == 200 and r.json()["state"] == "used"
    r = await client.post("/api/staff/coupons/redeem", json={"store_id": w.store_id, "code": code}, headers=clerk)
    assert r.status_code == 409 and r.json()["detail"] == "这张券已经核销过了"
    r = await client.post(
        "/api/staff/coupons/redeem", json={"store_id": w.store_id, "code": "000000000000"}, headers=clerk
    )
    assert r.status_code == 409 and "券码不存在" in r.json()["detail"]
    row = (await rows("SELECT state, used_store_id FROM customer_coupons WHERE id = :i", i=coupon_id))[0]
    assert (row.state, row.used_store_id) == ("used", w.store_id)
    # the customer APIs are for customers, and each sees only their own coupons
    assert (await client.get("/api/coupons/mine", headers=clerk)).status_code == 403
    other = (await customers(w.account_id, 1))[0]
    assert (await client.get("/api/coupons/mine", headers=customer_headers(other))).json()["total"] == 0
    mine = (
        await client.get("/api/coupons/mine", params={"state": "used"}, headers=customer_headers(w.customer_id))
    ).json()
    assert [x["id"] for x in mine["items"]] == [coupon_id]


async def test_demo_templates_seed_once(clean: None) -> None:
    from shop.coupons.seed import DEMO_TEMPLATES, KEYWORD_CODE, seed_coupons

    assert await seed_coupons() == len(DEMO_TEMPLATES)
    assert await seed_coupons() == 0
    assert await scalar("SELECT kind FROM coupon_templates WHERE code = :c", c=KEYWORD_CODE) == "threshold"
    assert await scalar("SELECT auto_issue FROM coupon_templates WHERE code = 'demo-newcomer'") == "subscribe"


async def test_the_apology_coupon_seam_delivery_calls(clean: None) -> None:
    from shop.coupons.seed import seed_coupons
    from shop.discounts import issue_apology_coupon

    w = await world()
    async with unit_of_work() as s:
        assert await issue_apology_coupon(s, w.customer_id, 1, "没有门店接单") is None  # no apology template yet
    await seed_coupons()
    async with unit_of_work() as s:
        first = await issue_apology_coupon(s, w.customer_id, 1, "没有门店接单")
        second = await issue_apology_coupon(s, w.customer_id, 2, "又没有门店接单")
    assert first is not None and second is not None and first != second
    got = await rows("SELECT source, state FROM customer_coupons WHERE customer_id = :c", c=w.customer_id)
    assert [(g.source, g.state) for g in got] == [("apology", "available")] * 2
