"""Coupons in a real browser (375 px): claim on the claim page, then check out with the best coupon picked by
the checkout picker, switch it off and on, and see the reasons of the coupons that do not apply."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.db import unit_of_work
from core.settings import get_settings
from tests.e2e.test_customer_h5 import SHOTS, page  # noqa: F401 - the browser fixture
from tests.integration.coupons.helpers import template
from tests.integration.orders.factories import world

pytestmark = pytest.mark.browser


async def test_claim_then_checkout_with_the_best_coupon(live_app: str, page: Any) -> None:  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    w = await world(price_fen=1250)
    keyword = await template(title="满20减5", kind="threshold", threshold_fen=2000, off_fen=500)
    await template(title="满100减30", kind="threshold", threshold_fen=10000, off_fen=3000, claimable=True)
    async with httpx.AsyncClient(base_url=get_settings().sandbox_base, timeout=30) as api:
        r = await api.post("/api/users", json={"nickname": "小李"})
        openid = r.json()["openid"]
    await page.context.add_cookies([{"name": "sandbox_openid", "value": openid, "url": live_app}])

    await page.goto(f"{live_app}/coupons/claim/{keyword}")
    await page.get_by_role("button", name="立即领取").click()
    await page.locator("#claimed").wait_for()
    await page.screenshot(path=str(SHOTS / "coupon-1-claimed.png"))
    await page.goto(f"{live_app}/coupons")
    await page.locator("#centre button.claim").first.click()  # the other one, from the coupon centre
    await page.locator("#mine .coupon", has_text="满100减30").wait_for()
    await page.screenshot(path=str(SHOTS / "coupon-2-centre.png"))

    async with unit_of_work() as s:
        customer = await s.scalar(text("SELECT id FROM customers WHERE openid = :o"), {"o": openid})
        await s.execute(
            text(
                "INSERT INTO cart_lines (customer_id, store_id, sku_id, qty, price_seen_fen, updated_at) "
                "VALUES (:c, :s, :k, 2, 1250, now())"
            ),
            {"c": customer, "s": w.store_id, "k": w.sku_id},
        )
    await page.goto(f"{live_app}/cart?store={w.store_id}")
    await page.locator("#quote", has_text="优惠 -¥5.00").wait_for()  # the best coupon, picked for the customer
    await page.locator("#quote", has_text="应付 ¥20.00").wait_for()
    await page.locator("#coupon-reasons", has_text="满100减30：商品满¥100.00可用，还差¥75.00").wait_for()
    await page.screenshot(path=str(SHOTS / "coupon-3-checkout.png"))
    await page.select_option("#coupon-select", "")
    await page.locator("#quote", has_text="应付 ¥25.00").wait_for()
    await page.select_option("#coupon-select", label="满20减5 -¥5.00（最优）")
    await page.locator("#quote", has_text="应付 ¥20.00").wait_for()
