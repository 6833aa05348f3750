"""Order notifications: a follower orders and pays through the API and the sandbox, and receives a template
message for each stage; without a template id, a customer-service message inside the 48 h window."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from core import clock
from core.db import unit_of_work
from core.events import RefundSucceeded, publish
from core.money import format_yuan
from orders.cancel_order import cancel_order
from orders.checkout import AddressIn, CheckoutRequest, LineIn
from orders.place_order import place_order
from orders.transition_order import transition
from tests.integration.engage.conftest import chat, customer_of, follower, run_jobs, scalar
from tests.integration.orders.factories import customer_headers, list_sku, make_sku, make_store, north

TEMPLATES = {
    "order_paid": "TPL_PAID",
    "order_accepted": "TPL_ACCEPTED",
    "order_delivered": "TPL_DELIVERED",
    "order_cancelled": "TPL_CANCELLED",
    "order_refunded": "TPL_REFUNDED",
}


async def _shop() -> tuple[int, int]:
    async with unit_of_work() as s:
        store_id = await make_store(s)
        sku_id = await make_sku(s, price_fen=1250, title="布洛芬缓释胶囊")
        await list_sku(s, store_id, sku_id, stock=50)
    return store_id, sku_id


async def _order(customer_id: int, store_id: int, sku_id: int, key: str) -> tuple[int, str]:
    lat, lng = north(800)
    req = CheckoutRequest(
        store_id, "delivery", [LineIn(sku_id, 2)], address=AddressIn("小明", "13800000000", "福州路 1 号", lat, lng)
    )
    async with unit_of_work() as s:
        placed = await place_order(s, customer_id, req, key)
    return placed.order_id, placed.public_id


async def _templates(api: httpx.AsyncClient, openid: str) -> list[dict]:
    return [m["body"] for m in await chat(api, openid, kind="template")]


async def test_a_follower_gets_a_template_message_for_each_stage(
    api: httpx.AsyncClient, app_http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await app_http.put("/api/engage/templates", json=TEMPLATES, headers=admin)
    assert r.status_code == 200, r.text
    openid = await follower(api)
    customer = await customer_of(openid)
    store_id, sku_id = await _shop()
    order_id, public_id = await _order(customer.id, store_id, sku_id, "engage-notify-0001")

    # Pay through the API and the sandbox (JSAPI), which sends the signed notify back to the app.
    started = await app_http.post(
        "/api/payments", json={"order_id": public_id, "channel": "JSAPI"}, headers=customer_headers(customer.id)
    )
    assert started.status_code == 200, started.text
    paid = await app_http.post("/sandbox/api/pay/jsapi", json=started.json()["jsapi_params"])
    assert paid.status_code == 200, paid.text
    for _ in range(300):
        if await scalar("SELECT status FROM orders WHERE id = :i", i=order_id) == "paid":
            break
        await asyncio.sleep(0.05)
    await run_jobs()

    [t] = await _templates(api, openid)
    assert t["template_id"] == "TPL_PAID" and t["touser"] == openid
    total = await scalar("SELECT total_fen FROM orders WHERE id = :i", i=order_id)
    assert t["data"]["keyword3"]["value"] == format_yuan(total) and t["data"]["keyword2"]["value"] == "支付成功"
    assert public_id in t["url"]

    for to in ("preparing", "out_for_delivery", "delivered"):
        async with unit_of_work() as s:
            await transition(s, order_id, to, "user:1", "test")
    # A delivery order's "accepted" comes from its store starting it (OrderStatusChanged → preparing);
    # "out for delivery" has no template id here, so it goes as a customer-service message.
    async with unit_of_work() as s:
        await publish(s, RefundSucceeded(order_id=order_id, refund_id=77, amount_fen=1250))
        await publish(s, RefundSucceeded(order_id=order_id, refund_id=77, amount_fen=1250))  # a repeat: once
    await run_jobs()

    ids = [t["template_id"] for t in await _templates(api, openid)]
    assert ids[0] == "TPL_PAID"
    assert sorted(ids[1:]) == ["TPL_ACCEPTED", "TPL_DELIVERED", "TPL_REFUNDED"]  # one each, whatever the order
    assert await scalar("SELECT count(*) FROM engage_outbound WHERE status = 'sent'") == 5


async def test_cancelled_without_a_template_goes_as_a_customer_service_message(api: httpx.AsyncClient) -> None:
    openid = await follower(api)
    customer = await customer_of(openid)
    store_id, sku_id = await _shop()
    order_id, _ = await _order(customer.id, store_id, sku_id, "engage-notify-0002")
    async with unit_of_work() as s:
        await cancel_order(s, order_id, "customer", "不想要了")
    await run_jobs()
    [m] = await chat(api, openid, kind="custom")
    assert m["msg_type"] == "news" and m["summary"] == "订单已取消"
    assert "不想要了" in m["body"]["news"]["articles"][0]["description"]

    # Two days later the window is closed: the next one is skipped, not sent to fail.
    clock.advance(timedelta(hours=49))
    order_2, _ = await _order(customer.id, store_id, sku_id, "engage-notify-0003")
    async with unit_of_work() as s:
        await cancel_order(s, order_2, "customer", "again")
    await run_jobs()
    assert len(await chat(api, openid, kind="custom")) == 1
    assert await scalar("SELECT error FROM engage_outbound WHERE ref = :r", r=str(order_2)) == (
        "outside WeChat's 48-hour customer-service window"
    )


async def test_a_customer_who_does_not_follow_gets_nothing_and_the_payment_is_untouched(
    api: httpx.AsyncClient, app_http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await app_http.put("/api/engage/templates", json=TEMPLATES, headers=admin)
    openid = await follower(api)
    clock.advance(1)
    await api.post(f"/api/users/{openid}/unfollow", json={})
    customer = await customer_of(openid)
    store_id, sku_id = await _shop()
    order_id, _ = await _order(customer.id, store_id, sku_id, "engage-notify-0004")
    async with unit_of_work() as s:
        from orders.mark_paid import mark_paid

        await mark_paid(s, order_id, "wx-test-1", clock.now())
    assert await scalar("SELECT status FROM orders WHERE id = :i", i=order_id) == "paid"
    assert await scalar("SELECT count(*) FROM engage_outbound") == 0  # nobody to send to
    await run_jobs()
    assert await _templates(api, openid) == []


async def test_the_notification_seam_for_other_issues(
    api: httpx.AsyncClient, app_http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    from engage.notify_orders import notify_customer

    await app_http.put("/api/engage/templates", json={"coupon_expiring": "TPL_COUPON"}, headers=admin)
    openid = await follower(api)
    customer = await customer_of(openid)
    for _ in range(2):  # the same ref twice: one message
        async with unit_of_work() as s:
            await notify_customer(
                s,
                customer.id,
                "coupon_expiring",
                {"first": "您的优惠券明天到期", "keyword1": "满50减10"},
                ref="coupon:9",
            )
    await run_jobs()
    assert [t["template_id"] for t in await _templates(api, openid)] == ["TPL_COUPON"]
