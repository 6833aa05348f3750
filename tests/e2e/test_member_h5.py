"""The member's story in a real browser (375 px): open the card, see the rotating QR code, top up 200 get 220 on
the sandbox pay sheet, then check out paying with stored value only (no pay sheet) and see the order paid."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.settings import get_settings
from tests.e2e.test_customer_h5 import SHOTS, page  # noqa: F401 - the browser page fixture
from tests.integration.members.conftest import seed_levels
from tests.integration.orders.factories import world

pytestmark = pytest.mark.browser


async def test_top_up_then_pay_with_stored_value(live_app: str, page: Any) -> None:  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    await seed_levels()
    w = await world(price_fen=1250)
    async with httpx.AsyncClient(base_url=get_settings().sandbox_base, timeout=30) as api:
        r = await api.post("/api/users", json={"nickname": "小李"})
        assert r.status_code == 201, r.text
        openid = r.json()["openid"]
    await page.context.add_cookies([{"name": "sandbox_openid", "value": openid, "url": live_app}])

    await page.goto(f"{live_app}/member")
    await page.locator("#balance", has_text="¥0.00").wait_for()
    qr = page.locator("#qr")
    await page.wait_for_function("() => document.getElementById('qr').naturalWidth > 0")
    assert (await qr.get_attribute("src") or "").startswith("/member/qr/")
    await page.get_by_role("button", name="充 ¥200.00 送 ¥20.00").click()
    await page.get_by_role("button", name="确认支付").click()
    await page.locator("#balance", has_text="¥220.00").wait_for(timeout=20000)
    await page.screenshot(path=str(SHOTS / "m1-member.png"))
    assert await page.get_by_text("充值").count() >= 1

    await page.goto(f"{live_app}/?store={w.store_id}")
    await page.get_by_role("button", name="加入购物车").click()
    await page.locator("#cart-count", has_text="1").wait_for()
    await page.locator(".cartbar").click()
    await page.locator("#quote", has_text="应付 ¥12.50").wait_for()
    await page.locator("#checkout-member").wait_for()
    await page.get_by_label("使用储值支付").check()
    await page.locator("#quote", has_text="应付 ¥0.00").wait_for()
    await page.locator("#sv-info", has_text="本单用 ¥12.50").wait_for()
    await page.screenshot(path=str(SHOTS / "m2-checkout.png"))
    await page.get_by_role("button", name="提交订单并支付").click()
    await page.wait_for_url(f"{live_app}/orders/*", timeout=15000)
    await page.locator("#status", has_text="已支付").wait_for()

    await page.goto(f"{live_app}/member")
    await page.locator("#balance", has_text="¥207.50").wait_for()
    await page.locator("#points", has_text="12").wait_for()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
