"""THE WHOLE STORY in a real browser, with the worker running as it does under `make run`:

on the sandbox phone page a new user scans a store QR code and follows, taps 点单, is signed in by OAuth, adds
an item, chooses urgent delivery and pays; in a second browser the staff of the nearest store see the offer
appear without reloading, claim it, prepare it, go out for delivery and enter the customer's handoff code; the
customer's order page shows 已送达; finance reconciles the day (the sandbox's "today so far" bill) with zero
unexplained mismatches and downloads the XLSX, which holds the order's payment. Screenshots of every step go
to .data/e2e-screenshots/story-*.png."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.db import unit_of_work
from core.money import format_yuan
from core.settings import get_settings
from tests.e2e.test_customer_h5 import ARGS, CHROMIUM, SHOTS
from tests.integration.orders.factories import list_sku, make_sku, make_store, staff_user

pytestmark = pytest.mark.browser


@pytest.fixture
async def worker(live_app: str) -> AsyncIterator[None]:
    """The job worker (dispatch, notifications, menu publishing, reconciliation) next to the live app."""
    from core.jobs import run_worker

    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(stop, concurrency=4, poll=0.2, name="story-worker"))
    yield
    stop.set()
    await asyncio.wait_for(task, timeout=40)


@pytest.fixture
async def browser(live_app: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        await b.close()


async def _context(browser: Any, errors: list[str], *, width: int, height: int) -> Any:
    ctx = await browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN", accept_downloads=True)
    page = await ctx.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return ctx, page


async def _sign_in(page: Any, url: str, username: str) -> None:
    await page.goto(url)
    await page.get_by_placeholder("用户名").fill(username)
    await page.get_by_placeholder("密码").fill("correct horse")
    await page.get_by_role("button", name="登录").click()
    await page.locator("#logout").wait_for()


async def test_the_whole_story(live_app: str, worker: None, browser: Any) -> None:
    from engage.accounts import resolve_account
    from engage.publish_menu import DEMO_MENU, publish_menu, save_menu
    from engage.qr_codes import ensure_qr_code
    from shop.stores.mirror import rebuild_geo_index

    SHOTS.mkdir(parents=True, exist_ok=True)
    # The chain: the store nearest the customer (the phone's location is 人民广场), a second one farther away.
    async with unit_of_work() as s:
        near = await make_store(s)
        far = await make_store(s, lat=31.2454, lng=121.4837)  # ~1.9 km: in the first ring too
        sku = await make_sku(s, price_fen=1500, title="布洛芬缓释胶囊")
        await list_sku(s, near, sku, stock=20)
        await list_sku(s, far, sku, stock=20)
        near_name = await s.scalar(text("SELECT name FROM stores WHERE id = :s"), {"s": near})
        account = await resolve_account(s, None)
        await save_menu(s, account.id, DEMO_MENU, None)
        await publish_menu(s, account.id, None, dedupe=False)  # the worker sends it to the sandbox
    await rebuild_geo_index()
    qr = await ensure_qr_code(account, "store", store_id=near, label="门店码")
    await staff_user("nearclerk", stores=[near])
    await staff_user("farclerk", stores=[far])
    await staff_user("money", role="finance")

    errors: list[str] = []
    # --- staff of both stores keep their consoles open from the start of the shift -------------------------
    staff_ctx, staff = await _context(browser, errors, width=900, height=1000)
    await _sign_in(staff, f"{live_app}/staff", "nearclerk")
    await staff.get_by_text("暂无待抢的急送订单").wait_for()
    await staff.evaluate("window.__sameDocument = true")  # gone if the page reloads or navigates
    far_ctx, far_staff = await _context(browser, errors, width=900, height=700)
    far_staff.on("dialog", lambda d: asyncio.ensure_future(d.accept("店里只有一个人，走不开")))
    await _sign_in(far_staff, f"{live_app}/staff", "farclerk")

    # --- the customer on the sandbox phone -------------------------------------------------------------------
    # The worker publishes the menu through the sandbox's menu/create; the phone shows it once published.
    async with httpx.AsyncClient(base_url=get_settings().sandbox_base, timeout=10) as api:
        for _ in range(100):
            if (await api.get("/api/menu")).json().get("menu"):
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the worker did not publish the menu")
    phone_ctx, phone = await _context(browser, errors, width=420, height=860)
    phone.on("dialog", lambda d: asyncio.ensure_future(d.accept("小张")))
    await phone.goto(f"{live_app}/sandbox/phone")
    await phone.locator("#new-user").click()
    await phone.locator("#follow-card-scan").wait_for()
    await phone.screenshot(path=str(SHOTS / "story-1-new-user.png"))
    await phone.locator("#follow-card-scan").click()
    await phone.get_by_role("button", name=f"场景 {qr.scene}（永久）").click()
    await phone.locator("#follow-card").wait_for(state="hidden")
    menu = phone.locator("#menu-bar").get_by_role("button", name="点单")
    await menu.wait_for()
    await phone.screenshot(path=str(SHOTS / "story-2-followed.png"))
    async with unit_of_work() as s:
        source = await s.scalar(text("SELECT referral_store_id FROM customers ORDER BY id DESC LIMIT 1"))
    assert source == near  # the store QR attributed the new follower to the store

    await menu.click()  # 点单 → OAuth (silent for the phone's own user) → the storefront in the web view
    h5 = phone.frame_locator("#webview-frame")
    await h5.locator("#store-name", has_text=near_name).wait_for(timeout=20000)
    await h5.get_by_text("¥15.00").wait_for()
    await phone.screenshot(path=str(SHOTS / "story-3-storefront.png"))
    await h5.get_by_role("button", name="加入购物车").click()
    await h5.locator("#cart-count", has_text="1").wait_for()
    await h5.locator(".cartbar").click()
    await h5.get_by_label("急送（1小时达）").check()
    await h5.get_by_placeholder("联系人").fill("张三")
    await h5.get_by_placeholder("手机号").fill("13812341234")
    await h5.get_by_placeholder("详细地址").fill("人民大道 200 号")
    await h5.get_by_placeholder("详细地址").blur()
    await h5.locator("#quote", has_text="送达").wait_for()
    await phone.screenshot(path=str(SHOTS / "story-4-checkout.png"))
    await h5.get_by_role("button", name="提交订单并支付").click()
    await h5.get_by_role("button", name="确认支付").click()  # the sandbox WeixinJSBridge pay sheet
    await h5.locator("#countdown").wait_for(timeout=20000)
    code = (await h5.locator("#handoff").inner_text()).strip()
    assert len(code) == 4 and code.isdigit()
    await phone.screenshot(path=str(SHOTS / "story-5-paid.png"))

    # --- the nearest store's staff: the offer arrives by itself ----------------------------------------------
    offer = staff.locator("#offers [data-offer]")
    await offer.wait_for(timeout=30000)
    assert await staff.evaluate("window.__sameDocument === true")  # no reload, no navigation
    assert await staff.get_attribute("body", "data-new-offer")  # the alert (beep + flash) fired
    await staff.screenshot(path=str(SHOTS / "story-6-offer.png"))
    # The farther store was offered it too; its clerk declines, saying why.
    far_offer = far_staff.locator("#offers [data-offer]")
    await far_offer.wait_for(timeout=30000)
    await far_offer.get_by_role("button", name="拒绝").click()
    await far_staff.get_by_text("暂无待抢的急送订单").wait_for()
    async with unit_of_work() as s:
        declined = (
            await s.execute(text("SELECT status, decline_reason FROM dispatch_offers WHERE store_id = :s"), {"s": far})
        ).one()
    assert tuple(declined) == ("declined", "店里只有一个人，走不开")
    await offer.get_by_role("button", name="抢单").click()
    await staff.wait_for_url("**/staff?stage=active")
    card = staff.locator("#board [data-kind=urgent]")
    assert "138****1234" in await card.inner_text()  # the customer's phone, masked
    assert "13812341234" not in await staff.content()
    await staff.get_by_role("button", name="开始备货").click()
    await staff.locator(".status", has_text="备货中").wait_for()
    await staff.get_by_role("button", name="出发配送").click()
    await staff.get_by_placeholder("收货码").fill(code)
    await staff.screenshot(path=str(SHOTS / "story-7-handoff.png"))
    await staff.get_by_role("button", name="确认送达").click()
    await staff.get_by_text("这里暂时没有订单").wait_for()

    # --- the customer's open order page turns to delivered ---------------------------------------------------
    await h5.locator("#status", has_text="已送达").wait_for(timeout=30000)
    await phone.screenshot(path=str(SHOTS / "story-8-delivered.png"))

    # --- finance reconciles today so far and downloads the XLSX ----------------------------------------------
    fin_ctx, fin = await _context(browser, errors, width=1100, height=1000)
    await _sign_in(fin, f"{live_app}/finance", "money")
    await fin.get_by_role("button", name="立即对账").click()
    msg = fin.locator("#reconcile-msg")
    await msg.filter(has_text="对账完成").wait_for(timeout=60000)
    assert "0 条差异" in await msg.inner_text(), await msg.inner_text()
    await fin.locator("#days td.recon", has_text="已完成").wait_for(timeout=10000)
    row = fin.locator("#days tbody tr").first
    assert await row.locator("td.open").inner_text() == "0"
    assert await row.locator("td.mismatched").inner_text() == "0"
    assert await fin.locator("#mismatches").inner_text() == "没有待处理的差异"
    gmv = fin.locator('#chart-money svg polyline[data-name="成交 GMV"]')
    assert await gmv.count() == 1  # drawn on the server from the day's figures
    async with unit_of_work() as s:
        paid_fen = await s.scalar(text("SELECT paid_fen FROM payment_intents WHERE status = 'paid'"))
    assert format_yuan(paid_fen) in await fin.locator("#chart-money").inner_html()  # the axis top: today's GMV
    sla = await fin.locator("#sla").inner_text()
    assert near_name in sla and "100.0%" in sla  # delivered within the hour, counted for the store that claimed it
    await fin.screenshot(path=str(SHOTS / "story-9-reconciled.png"), full_page=True)
    async with fin.expect_download() as dl:
        await fin.get_by_role("link", name="payments.xlsx").click()
    path = await (await dl.value).path()
    async with unit_of_work() as s:
        out_trade_no = await s.scalar(text("SELECT out_trade_no FROM payment_intents WHERE status = 'paid'"))

    import openpyxl

    with open(path, "rb") as f:
        book = openpyxl.load_workbook(io.BytesIO(f.read()), read_only=True)
    cells = [str(c) for ws in book.worksheets for r in ws.iter_rows(values_only=True) for c in r if c is not None]
    assert out_trade_no in cells

    for ctx in (staff_ctx, far_ctx, phone_ctx, fin_ctx):
        await ctx.close()
    assert errors == [], errors
