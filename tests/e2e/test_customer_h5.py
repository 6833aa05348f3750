"""The customer's story in a real browser (375 px): WeChat sign-in, add a product, place a pickup order, pay on
the sandbox pay sheet, and watch the order page turn to paid."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.db import unit_of_work
from core.settings import get_settings
from tests.integration.orders.factories import staff_user, world

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parents[2] / ".data" / "e2e-screenshots"


@pytest.fixture
async def page(live_app: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = await browser.new_context(viewport={"width": 375, "height": 740}, locale="zh-CN")
        pg = await context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.on("dialog", lambda d: d.accept())
        yield pg
        await browser.close()
        assert errors == [], errors


async def test_sign_in_order_pay_and_see_paid(live_app: str, page: Any) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    w = await world(price_fen=1250)
    async with unit_of_work() as s:
        await s.execute(
            text("UPDATE products SET title = '矿泉水' WHERE id = (SELECT product_id FROM skus WHERE id = :k)"),
            {"k": w.sku_id},
        )
        store_name = await s.scalar(text("SELECT name FROM stores WHERE id = :s"), {"s": w.store_id})
    async with httpx.AsyncClient(base_url=get_settings().sandbox_base, timeout=30) as api:
        r = await api.post("/api/users", json={"nickname": "小王"})
        assert r.status_code == 201, r.text
        openid = r.json()["openid"]
    # This browser is "signed in to WeChat" as that user: the sandbox's authorize step is silent.
    await page.context.add_cookies([{"name": "sandbox_openid", "value": openid, "url": live_app}])

    await page.goto(f"{live_app}/?store={w.store_id}")
    await page.locator("#store-name").wait_for()
    assert page.url.startswith(f"{live_app}/?store={w.store_id}")
    assert await page.locator("#store-name").inner_text() == store_name
    await page.get_by_text("¥12.50").wait_for()
    await page.screenshot(path=str(SHOTS / "1-storefront.png"))

    await page.get_by_role("button", name="加入购物车").click()
    await page.locator("#cart-count", has_text="1").wait_for()
    await page.get_by_role("button", name="加入购物车").click()
    await page.locator("#cart-count", has_text="2").wait_for()

    await page.locator(".cartbar").click()
    await page.locator("#quote", has_text="应付 ¥25.00").wait_for()
    await page.screenshot(path=str(SHOTS / "2-checkout.png"))
    await page.get_by_role("button", name="提交订单并支付").click()

    # The sandbox's pay sheet (the jsbridge shim outside the phone page shows its own).
    await page.get_by_role("button", name="确认支付").click()
    await page.screenshot(path=str(SHOTS / "3-paid.png"))
    await page.wait_for_url(f"{live_app}/orders/*", timeout=15000)
    status = page.locator("#status")
    await status.wait_for()
    for _ in range(60):  # the notify arrives in the background; the page polls and reloads
        if (await status.inner_text()) != "待支付":
            break
        await page.wait_for_timeout(500)
    assert await status.inner_text() in ("已支付", "派单中", "已接单", "备货中")
    await page.screenshot(path=str(SHOTS / "4-order.png"))
    code = await page.locator("#handoff").inner_text()
    order_url = page.url

    # The store's staff sign in on the console, then prepare the order and hand it over with the code.
    await staff_user("clerk", stores=[w.store_id])
    staff_ctx = await page.context.browser.new_context(viewport={"width": 760, "height": 900}, locale="zh-CN")
    staff = await staff_ctx.new_page()
    staff_errors: list[str] = []
    staff.on("pageerror", lambda exc: staff_errors.append(str(exc)))
    await staff.goto(f"{live_app}/staff")
    await staff.get_by_placeholder("用户名").fill("clerk")
    await staff.get_by_placeholder("密码").fill("correct horse")
    await staff.get_by_role("button", name="登录").click()
    await staff.locator("#who", has_text=store_name).wait_for()
    await staff.get_by_role("button", name="开始备货").click()
    await staff.get_by_text("这里暂时没有订单").wait_for()  # moved on from the new orders
    await staff.goto(f"{live_app}/staff?stage=active")
    await staff.get_by_role("button", name="备好待取").click()
    await staff.get_by_role("button", name="确认取货").wait_for()
    await staff.get_by_placeholder("取货/收货码").fill(code)
    await staff.screenshot(path=str(SHOTS / "5-staff.png"))
    await staff.get_by_role("button", name="确认取货").click()
    await staff.get_by_text("这里暂时没有订单").wait_for()
    await staff_ctx.close()
    assert staff_errors == [], staff_errors

    # The open order page polls and reloads itself when the status changes (a goto here could race it).
    assert page.url == order_url
    await page.locator("#status", has_text="已取货").wait_for(timeout=20000)
    assert await page.get_by_role("button", name="取消订单").count() == 0

    await page.goto(f"{live_app}/orders")
    await page.get_by_text("矿泉水").wait_for()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375


async def test_urgent_order_offered_live_claimed_and_delivered(live_app: str, page: Any) -> None:
    from core.jobs import run_due_jobs
    from shop.stores.mirror import rebuild_geo_index

    SHOTS.mkdir(parents=True, exist_ok=True)
    w = await world(price_fen=1500)
    async with unit_of_work() as s:
        await s.execute(
            text("UPDATE products SET title = '布洛芬' WHERE id = (SELECT product_id FROM skus WHERE id = :k)"),
            {"k": w.sku_id},
        )
    await staff_user("rider", stores=[w.store_id])
    await rebuild_geo_index()
    async with httpx.AsyncClient(base_url=get_settings().sandbox_base, timeout=30) as api:
        openid = (await api.post("/api/users", json={"nickname": "小李"})).json()["openid"]
    await page.context.add_cookies([{"name": "sandbox_openid", "value": openid, "url": live_app}])

    # Staff keep the console open from the start of the shift.
    staff_ctx = await page.context.browser.new_context(viewport={"width": 760, "height": 900}, locale="zh-CN")
    staff = await staff_ctx.new_page()
    staff_errors: list[str] = []
    staff.on("pageerror", lambda exc: staff_errors.append(str(exc)))
    staff.on("dialog", lambda d: d.accept())
    await staff.goto(f"{live_app}/staff")
    await staff.get_by_placeholder("用户名").fill("rider")
    await staff.get_by_placeholder("密码").fill("correct horse")
    await staff.get_by_role("button", name="登录").click()
    await staff.get_by_text("暂无待抢的急送订单").wait_for()

    await page.goto(f"{live_app}/?store={w.store_id}")
    await page.get_by_role("button", name="加入购物车").click()
    await page.locator("#cart-count", has_text="1").wait_for()
    await page.locator(".cartbar").click()
    await page.get_by_label("急送（1小时达）").check()
    await page.get_by_placeholder("联系人").fill("李四")
    await page.get_by_placeholder("手机号").fill("13900000000")
    await page.get_by_placeholder("详细地址").fill("人民大道 200 号")
    await page.get_by_placeholder("详细地址").blur()
    await page.locator("#quote", has_text="送达").wait_for()
    assert "急送费" in await page.locator("#quote").inner_text()
    await page.screenshot(path=str(SHOTS / "u1-checkout.png"))
    await page.get_by_role("button", name="提交订单并支付").click()
    await page.get_by_role("button", name="确认支付").click()
    await page.wait_for_url(f"{live_app}/orders/*", timeout=15000)
    order_url = page.url
    status = page.locator("#status")
    for _ in range(60):
        if (await status.inner_text()) != "待支付":
            break
        await page.wait_for_timeout(500)
    await page.locator("#countdown").wait_for()
    code = await page.locator("#handoff").inner_text()

    # Dispatch runs in the worker: run its due jobs here; the offer appears on the console without a reload.
    for _ in range(20):
        await run_due_jobs()
        if await staff.locator("[data-offer]").count():
            break
        await staff.wait_for_timeout(500)
    await staff.locator("[data-offer]").wait_for()
    await staff.screenshot(path=str(SHOTS / "u2-offer.png"))
    await staff.get_by_role("button", name="抢单").click()
    await staff.wait_for_url("**/staff?stage=active")
    await staff.get_by_role("button", name="开始备货").click()
    await staff.locator(".status", has_text="备货中").wait_for()
    await staff.get_by_role("button", name="出发配送").click()
    await staff.get_by_placeholder("收货码").wait_for()
    await staff.get_by_placeholder("收货码").fill(code)
    await staff.get_by_role("button", name="确认送达").click()
    await staff.get_by_text("这里暂时没有订单").wait_for()
    await staff_ctx.close()
    assert staff_errors == [], staff_errors

    assert page.url == order_url  # the open page reloads itself as the status moves on
    await page.locator("#status", has_text="已送达").wait_for(timeout=20000)
    await page.screenshot(path=str(SHOTS / "u3-delivered.png"))
