"""Member HTTP: the card and its statement, the single-use 60 s QR code checked by staff of a store, top-ups
paid through the sandbox over HTTP, bad inputs refused in Chinese with nothing written, admin levels/plans."""

from __future__ import annotations

import httpx

from core import clock
from core.db import unit_of_work
from tests.integration.members.conftest import Member, balances, member, seed_levels
from tests.integration.orders.factories import customer_headers, make_customer, staff_user, world
from tests.integration.payments.conftest import eventually, ledger_ok, scalar


async def test_member_qr_code_is_single_use_and_lives_60_seconds(client: httpx.AsyncClient) -> None:
    await seed_levels()
    m = await member(await world())
    other = await world()
    me = customer_headers(m.w.customer_id)
    _, staff = await staff_user("clerk", stores=[m.w.store_id])
    verify = f"/api/staff/stores/{m.w.store_id}/member-code/verify"

    code = (await client.post("/api/member/code", headers=me)).json()
    assert code["ttl_seconds"] == 60 and code["qr_text"].startswith("O2OM:")
    r = await client.post(verify, json={"code": code["qr_text"]}, headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["card_id"] == m.card_id and r.json()["level_name"] == "普通"

    replay = await client.post(verify, json={"code": code["qr_text"]}, headers=staff)
    assert replay.status_code == 422 and "已使用" in replay.json()["detail"]

    late = (await client.post("/api/member/code", headers=me)).json()
    clock.advance(61)
    expired = await client.post(verify, json={"code": late["token"]}, headers=staff)
    assert expired.status_code == 422 and "过期" in expired.json()["detail"]

    fresh = (await client.post("/api/member/code", headers=me)).json()
    elsewhere = await client.post(
        f"/api/staff/stores/{other.store_id}/member-code/verify", json={"code": fresh["token"]}, headers=staff
    )
    assert elsewhere.status_code == 403
    unknown = await client.post(verify, json={"code": "O2OM:not-a-real-token-at-all"}, headers=staff)
    assert unknown.status_code == 422 and "无效" in unknown.json()["detail"]
    assert (await client.post(verify, json={"code": fresh["token"]}, headers=me)).status_code == 403
    # The token refused elsewhere was not used up: the right store still can use it once.
    assert (await client.post(verify, json={"code": fresh["token"]}, headers=staff)).status_code == 200
    assert await scalar("SELECT count(*) FROM member_code_tokens WHERE used_at IS NOT NULL") == 2


async def test_top_up_over_http_then_card_and_statement(http: httpx.AsyncClient) -> None:
    await seed_levels()
    w = await world()
    me = customer_headers(w.customer_id)
    plans = (await http.get("/api/member/topup-plans", headers=me)).json()
    assert [(p["pay_fen"], p["bonus_fen"]) for p in plans] == [(20_000, 2_000)]
    r = await http.post("/api/member/topups", json={"plan_id": plans[0]["id"]}, headers=me)
    assert r.status_code == 201, r.text
    started = r.json()
    assert started["payment"]["amount_fen"] == 20_000 and started["payment"]["jsapi_params"]["paySign"]
    paid = await http.post("/sandbox/api/pay/jsapi", json=started["payment"]["jsapi_params"])
    assert paid.status_code == 200, paid.text
    topup_id = started["topup"]["id"]

    async def credited() -> bool:
        return (await http.get(f"/api/member/topups/{topup_id}", headers=me)).json()["status"] == "paid"

    await eventually(credited, what="the top-up to be paid")
    card = (await http.get("/api/member/card", headers=me)).json()
    assert (card["principal_fen"], card["bonus_fen"], card["balance_fen"]) == (20_000, 2_000, 22_000)
    assert card["level"]["name"] == "普通" and card["next_level"]["name"] == "银卡"
    page = (await http.get("/api/member/statement?page=1&page_size=10", headers=me)).json()
    assert (
        page["total"] == 1 and page["items"][0]["kind"] == "topup" and page["items"][0]["balance_after_fen"] == 22_000
    )
    assert (await http.get("/api/member/statement?kind=points", headers=me)).json()["total"] == 0
    assert (await http.get("/api/member/statement?kind=stored_value", headers=me)).json()["total"] == 1
    assert (await http.get("/api/member/statement?page=0", headers=me)).status_code == 400
    status = await http.get(f"/api/payments/{started['payment']['out_trade_no']}", headers=me)
    assert status.json()["status"] == "paid"
    await ledger_ok()

    # Someone else's top-up and payment are not theirs to see.
    async with unit_of_work() as s:
        stranger = await make_customer(s, w.account_id)
    them = customer_headers(stranger)
    assert (await http.get(f"/api/member/topups/{topup_id}", headers=them)).status_code == 403
    assert (await http.get(f"/api/payments/{started['payment']['out_trade_no']}", headers=them)).status_code == 404


async def test_bad_top_ups_are_refused_in_chinese_and_write_nothing(client: httpx.AsyncClient) -> None:
    await seed_levels()
    w = await world()
    me = customer_headers(w.customer_id)
    for body, words in (
        ({"pay_fen": 1234}, "整数元"),
        ({"pay_fen": 50}, "10–5000 元"),
        ({"pay_fen": 10_000_000}, "10–5000 元"),
        ({"plan_id": 999_999}, "充值方案不存在"),
        ({}, "二选一"),
        ({"plan_id": 1, "pay_fen": 10_000}, "二选一"),
        ({"pay_fen": "100"}, "格式不对"),
    ):
        r = await client.post("/api/member/topups", json=body, headers=me)
        assert r.status_code == 400, (body, r.text)
        assert words in r.json()["detail"], (body, r.json())
    assert await scalar("SELECT count(*) FROM member_topups") == 0
    assert await scalar("SELECT count(*) FROM payment_intents") == 0
    assert await scalar("SELECT count(*) FROM member_cards") == 0
    assert (await client.get("/api/member/statement", headers=me)).status_code == 404


async def test_admin_manages_levels_and_plans_staff_cannot(client: httpx.AsyncClient) -> None:
    await seed_levels()
    w = await world()
    _, admin = await staff_user("boss", role="admin")
    _, staff = await staff_user("clerk2", stores=[w.store_id])
    r = await client.post(
        "/api/admin/members/levels",
        json={"code": "diamond", "name": "钻石", "min_growth_fen": 1_000_000, "discount_pct": 10, "points_per_yuan": 5},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    level_id = r.json()["id"]
    assert (
        await client.patch(f"/api/admin/members/levels/{level_id}", json={"discount_pct": 8}, headers=admin)
    ).json()["discount_pct"] == 8
    dup = await client.post(
        "/api/admin/members/levels", json={"code": "diamond2", "name": "x", "min_growth_fen": 1_000_000}, headers=admin
    )
    assert dup.status_code == 409
    assert (
        await client.post(
            "/api/admin/members/topup-plans",
            json={"name": "充100送5", "pay_fen": 10_000, "bonus_fen": 500},
            headers=admin,
        )
    ).status_code == 201
    bad = await client.post("/api/admin/members/topup-plans", json={"name": "x", "pay_fen": 10_050}, headers=admin)
    assert bad.status_code == 400
    assert (
        await client.post("/api/admin/members/topup-plans", json={"name": "x", "pay_fen": 30_000}, headers=staff)
    ).status_code == 403
    assert (await client.get("/api/admin/members/levels", headers=staff)).status_code == 403
    assert await scalar("SELECT count(*) FROM shop_audit_log WHERE entity IN ('member_level', 'topup_plan')") == 3


async def test_levels_follow_growth_up_and_down(member_world: Member) -> None:
    from shop.members import award_points, reverse_points

    async with unit_of_work() as s:
        assert await award_points(s, member_world.w.customer_id, 9_001, 60_000) == 600  # 普通: 1 point / yuan
    level = "SELECT l.code FROM member_cards c JOIN member_levels l ON l.id = c.level_id WHERE c.id = :id"
    assert await scalar(level, id=member_world.card_id) == "silver"
    async with unit_of_work() as s:
        assert await award_points(s, member_world.w.customer_id, 9_001, 60_000) == 0  # once per order
        assert await award_points(s, member_world.w.customer_id, 9_002, 10_000) == 200  # 银卡: 2 / yuan
    async with unit_of_work() as s:
        assert await reverse_points(s, 9_001, 30_000, "r1") == 300
        assert await reverse_points(s, 9_001, 30_000, "r1") == 0  # the same refund again
    assert await scalar(level, id=member_world.card_id) == "normal"  # 40,000 growth: below 银卡
    assert await balances(member_world.card_id) == (0, 0, 500)


async def test_a_top_up_whose_payment_cannot_start_is_cancelled(http: httpx.AsyncClient) -> None:
    """start_payment commits the new top-up before asking WeChat Pay: when WeChat refuses, the top-up must not
    stay open (the customer retries and gets a new one)."""
    from tests.integration.payments.conftest import add_fault

    await seed_levels()
    w = await world()
    me = customer_headers(w.customer_id)
    plan = (await http.get("/api/member/topup-plans", headers=me)).json()[0]
    await add_fault(http, "error", scope="response", count=20, params={"status": 500})
    r = await http.post("/api/member/topups", json={"plan_id": plan["id"]}, headers=me)
    assert r.status_code in (409, 503), r.text
    assert "微信支付" in r.text or "WeChat Pay" in r.text
    rows = await scalar("SELECT string_agg(status, ',') FROM member_topups WHERE customer_id = :c", c=w.customer_id)
    assert rows == "cancelled"
    assert await scalar("SELECT count(*) FROM payment_intents WHERE payable_kind = 'topup'") == 0
    await http.delete("/sandbox/api/pay/faults")
    again = await http.post("/api/member/topups", json={"plan_id": plan["id"]}, headers=me)
    assert again.status_code == 201, again.text
    assert (
        await scalar(
            "SELECT count(*) FROM member_topups WHERE customer_id = :c AND status = 'created'", c=w.customer_id
        )
        == 1
    )
