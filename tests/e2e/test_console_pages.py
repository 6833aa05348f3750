"""The consoles' interactive steps in a real browser: the busy toggle and stock adjustments on the staff
console, resolving a mismatch with a note and the CSV/XLSX downloads on the finance console, and answering a
customer from the admin inbox (the answer reaches the customer's WeChat in the sandbox)."""

from __future__ import annotations

import csv
import importlib.util
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from core import clock
from core.db import unit_of_work
from core.settings import get_settings
from tests.e2e.test_customer_h5 import ARGS, CHROMIUM, SHOTS
from tests.integration.engage.conftest import act, chat, follower, run_jobs
from tests.integration.orders.factories import list_sku, make_sku, make_store, staff_user, world

pytestmark = pytest.mark.browser


@pytest.fixture
async def open_page(live_app: str) -> AsyncIterator[Any]:
    """open_page(username) → a page signed in to the consoles as that user (password "correct horse")."""
    from playwright.async_api import async_playwright

    errors: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)

        async def open_as(username: str, path: str, *, fake_clock: bool = False) -> Any:
            ctx = await browser.new_context(viewport={"width": 1000, "height": 900}, locale="zh-CN")
            page = await ctx.new_page()
            if fake_clock:
                await page.clock.install()  # timers can be fast-forwarded; time still flows
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("dialog", lambda d: d.accept())
            await page.goto(f"{live_app}{path}")
            await page.get_by_placeholder("用户名").fill(username)
            await page.get_by_placeholder("密码").fill("correct horse")
            await page.get_by_role("button", name="登录").click()
            await page.locator("#logout").wait_for()
            return page

        yield open_as
        await browser.close()
    assert errors == [], errors


async def test_staff_pause_urgent_offers_and_adjust_stock(live_app: str, open_page: Any) -> None:
    async with unit_of_work() as s:
        store = await make_store(s)
        sku = await make_sku(s, title="医用口罩")
        await list_sku(s, store, sku, stock=12)
    await staff_user("shift", stores=[store])
    page = await open_page("shift", "/staff")

    await page.get_by_role("button", name="忙碌，暂停急送 30 分钟").click()
    await page.locator(".busy-state", has_text="急送已暂停").wait_for()
    async with unit_of_work() as s:
        paused = await s.scalar(
            text("SELECT urgent_paused FROM store_dispatch_state WHERE store_id = :s"), {"s": store}
        )
    assert paused is True
    await page.screenshot(path=str(SHOTS / "console-staff-busy.png"))
    await page.get_by_role("button", name="恢复接急送单").click()
    await page.locator(".busy-state", has_text="正在接急送单").wait_for()
    async with unit_of_work() as s:
        from delivery.toggle_busy import busy_state

        assert (await busy_state(s, store)).busy is False

    await page.get_by_role("link", name="库存").click()
    row = page.locator(f"#stock tr[data-sku='{sku}']")
    assert await row.locator(".on-hand").inner_text() == "12"
    await row.locator(".delta").fill("-3")
    await row.locator(".do-adjust").click()
    await row.locator(".msg", has_text="请填写调整原因").wait_for()  # the typed quantity stays
    assert await row.locator(".delta").input_value() == "-3"
    await row.locator(".reason").fill("盘点破损")
    await row.locator(".do-adjust").click()
    await row.locator(".msg", has_text="已调整").wait_for()
    assert await row.locator(".on-hand").inner_text() == "9"
    await page.screenshot(path=str(SHOTS / "console-staff-stock.png"))
    async with unit_of_work() as s:
        on_hand, reason = (
            await s.execute(
                text(
                    "SELECT l.on_hand, m.reason FROM stock_levels l JOIN stock_movements m "
                    "ON m.store_id = l.store_id AND m.sku_id = l.sku_id "
                    "WHERE l.store_id = :s AND l.sku_id = :k ORDER BY m.id DESC LIMIT 1"
                ),
                {"s": store, "k": sku},
            )
        ).one()
    assert (on_hand, reason) == (9, "盘点破损")

    await row.locator(".delta").fill("-100")
    await row.locator(".reason").fill("错误")
    await row.locator(".do-adjust").click()
    await row.locator(".msg", has_text="调整失败").wait_for()  # below what is reserved/zero: refused, said plainly
    assert await row.locator(".on-hand").inner_text() == "9"

    await page.get_by_role("link", name="会员核验").click()
    await page.get_by_placeholder("会员码（扫码枪扫入或手动输入）").fill("MQR-123456")
    await page.get_by_role("button", name="核验").click()
    await page.locator("#member-error").wait_for()
    text_ = await page.locator("#member-error").inner_text()
    if importlib.util.find_spec("shop.members") is None:
        assert text_ == "会员功能未启用"  # no members domain: said plainly, nothing else breaks
    else:
        assert text_.startswith("核验失败")  # a made-up code is refused by the members domain


async def test_a_new_order_on_the_board_shows_the_refresh_bar(live_app: str, open_page: Any) -> None:
    from tests.integration.web.test_console_access import paid_delivery_order

    w = await world(price_fen=800)
    await staff_user("boardclerk", stores=[w.store_id])
    page = await open_page("boardclerk", "/staff", fake_clock=True)
    await page.get_by_text("这里暂时没有订单").wait_for()
    async with httpx.AsyncClient(base_url=live_app, timeout=30) as http:
        placed = await paid_delivery_order(http, w, "13600001111", "board-bar-1")
    bar = page.locator("#board-update")
    assert await bar.is_hidden()
    await page.clock.fast_forward(16_000)
    await bar.wait_for()
    await bar.get_by_role("link").click()
    await page.locator("#board", has_text=f"#{placed['number']}").wait_for()
    assert await page.locator("#board .phone").inner_text() == "136****1111"


async def test_finance_resolves_a_mismatch_with_a_note_and_downloads(live_app: str, open_page: Any) -> None:
    from payments.models import ReconMismatch

    today = clock.now_shanghai().date()
    async with unit_of_work() as s:
        m = ReconMismatch(
            bill_date=today,
            kind="missing_locally",
            key="4200000123202611290001",
            status="open",
            bill_amount_fen=990,
            local_amount_fen=None,
            detail="账单有、本地无",
            first_run_id=1,
            last_run_id=1,
        )
        s.add(m)
        await s.flush()
        mismatch_id = m.id
    await staff_user("ledger", role="finance")
    page = await open_page("ledger", "/finance")

    item = page.locator(f"#mismatches [data-mismatch='{mismatch_id}']")
    await item.get_by_role("button", name="标记已处理").click()
    assert await item.locator("input[name=note]").evaluate("el => el.validity.valueMissing")  # nothing sent
    await item.locator("input[name=note]").fill("商户平台手工补单，已与门店核对")
    await item.get_by_role("button", name="标记已处理").click()
    await page.get_by_text("没有待处理的差异").wait_for()
    async with unit_of_work() as s:
        row = await s.get(ReconMismatch, mismatch_id)
        assert row is not None
        assert (row.status, row.note) == ("resolved", "商户平台手工补单，已与门店核对")
        assert row.resolved_by and row.resolved_by.startswith("finance:") and row.resolved_at is not None
    await page.get_by_role("link", name="已处理").click()
    await page.locator(".note", has_text="商户平台手工补单").wait_for()
    await page.screenshot(path=str(SHOTS / "console-finance-resolved.png"), full_page=True)

    # A store's settlement statement: drafted from the ledger, then confirmed.
    async with unit_of_work() as s:
        store = await make_store(s)
        store_name = await s.scalar(text("SELECT name FROM stores WHERE id = :s"), {"s": store})
    await page.goto(f"{live_app}/finance")
    form = page.locator("#statement")
    await form.get_by_role("button", name="生成结算单").click()  # no store chosen: the browser asks for one
    assert await form.get_by_label("门店").evaluate("el => el.validity.valueMissing")
    await form.get_by_label("门店").select_option(str(store))
    await form.get_by_role("button", name="生成结算单").click()
    statement = page.locator("#statements tr[data-statement]", has_text=store_name)
    await statement.filter(has_text="草稿").wait_for()
    await statement.get_by_role("button", name="确认").click()
    await page.locator("#statements tr[data-statement]", has_text="已确认").wait_for()
    async with unit_of_work() as s:
        status = await s.scalar(text("SELECT status FROM settlement_statements WHERE store_id = :s"), {"s": store})
    assert status == "confirmed"

    # The download links carry the session cookie: the same content a person saves.
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    async with httpx.AsyncClient(base_url=live_app, cookies=cookies, timeout=30) as http:
        link = await page.get_by_role("link", name="mismatches.xlsx").get_attribute("href")
        r = await http.get(link)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(r.content), read_only=True)
        cells = [str(c) for ws in book.worksheets for r_ in ws.iter_rows(values_only=True) for c in r_ if c]
        assert "4200000123202611290001" in cells and "商户平台手工补单，已与门店核对" in cells
        link = await page.get_by_role("link", name="csv").nth(1).get_attribute("href")
        assert link and "mismatches" in link
        r = await http.get(link)
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert any("4200000123202611290001" in line for line in rows[1:]), rows
        assert "本地缺失" in rows[1]


async def test_admin_answers_the_inbox_and_the_customer_receives_it(live_app: str, open_page: Any) -> None:
    async with httpx.AsyncClient(base_url=get_settings().sandbox_base, timeout=30) as api:
        openid = await follower(api, "陈阿姨")
        clock.advance(1)
        await act(api, openid, "text", content="你们周末几点开门？有没有儿童退烧贴")
        await staff_user("hqadmin", role="admin")
        page = await open_page("hqadmin", "/admin?tab=inbox")
        item = page.locator("#inbox [data-message]", has_text="儿童退烧贴")
        await item.wait_for()
        await item.locator("input[name=content]").fill("您好，周末 8:00–22:00 营业，退烧贴有货。")
        await item.get_by_role("button", name="回复", exact=True).click()
        await page.get_by_text("没有待回复的消息").wait_for()
        await page.screenshot(path=str(SHOTS / "console-admin-inbox.png"))
        await run_jobs()
        assert [m["summary"] for m in await chat(api, openid, kind="custom")] == [
            "您好，周末 8:00–22:00 营业，退烧贴有货。"
        ]

    async with unit_of_work() as s:
        from engage.models import InboundMessage

        handled = (await s.scalars(select(InboundMessage.handled_at).where(InboundMessage.needs_agent))).all()
    assert handled and all(h is not None for h in handled)

    # The other admin screens render with their empty states or lists.
    for tab, expected in (
        ("stores", "还没有门店"),
        ("catalogue", "还没有商品"),
        ("rules", "还没有关键词规则"),
        ("qrcodes", "还没有二维码"),
        ("pushes", "还没有推送记录"),
        ("coupons", "优惠券"),
        ("members", "会员"),
    ):
        await page.goto(f"{live_app}/admin?tab={tab}")
        await page.get_by_text(expected).first.wait_for()


async def test_admin_rules_menu_qr_codes_pushes_and_prices(live_app: str, open_page: Any) -> None:
    async with unit_of_work() as s:
        store = await make_store(s)
        sku = await make_sku(s, price_fen=1000, title="退烧贴")
        await list_sku(s, store, sku)
    await staff_user("hqadmin2", role="admin")
    async with httpx.AsyncClient(base_url=get_settings().sandbox_base, timeout=30) as api:
        openid = await follower(api, "刘先生")
        page = await open_page("hqadmin2", "/admin?tab=rules")

        # A keyword rule typed in the console answers the customer at once.
        await page.get_by_label("关键词").fill("退烧贴")
        await page.get_by_label("回复文字").fill("有货，欢迎到店选购")
        await page.get_by_role("button", name="添加规则").click()
        await page.locator("#rules td", has_text="有货，欢迎到店选购").wait_for()
        clock.advance(1)
        d = await act(api, openid, "text", content="有退烧贴吗")
        assert d["reply"]["content"] == "有货，欢迎到店选购"

        # The menu: a broken JSON is refused in the page (the text stays); a valid one is published.
        await page.goto(f"{live_app}/admin?tab=menu")
        area = page.get_by_label("菜单 JSON")
        await area.fill('{"button": [')
        await page.get_by_role("button", name="发布到公众号").click()
        await page.locator("#menu-form .msg", has_text="菜单不是有效的 JSON").wait_for()
        assert await area.input_value() == '{"button": ['
        await area.fill('{"button": [{"type": "view", "name": "买药", "url": "/auth/wechat?next=/"}]}')
        await page.get_by_role("button", name="发布到公众号").click()
        await page.locator("#menu-status", has_text="第 1 版").wait_for()
        await run_jobs()
        menu = (await api.get("/api/menu")).json()["menu"]
        assert [b["name"] for b in menu["button"]] == ["买药"]

        # A store's QR code, shown as an image.
        await page.goto(f"{live_app}/admin?tab=qrcodes")
        await page.get_by_label("门店").select_option(str(store))
        await page.get_by_role("button", name="生成门店二维码").click()
        img = page.locator("#qrcodes img").first
        await img.wait_for()
        assert await img.evaluate("el => el.complete && el.naturalWidth > 0")

        # A push to everyone who talked to us in the last 48 hours reaches the customer.
        await page.goto(f"{live_app}/admin?tab=pushes")
        await page.get_by_placeholder("推送名称（仅后台可见）").fill("新品通知")
        await page.get_by_placeholder("推送内容").fill("退烧贴到货啦")
        await page.get_by_role("button", name="预估人数").click()
        await page.locator("#push-add .msg", has_text="约 1 位粉丝").wait_for()
        await page.get_by_role("button", name="发送").click()
        await page.locator("#pushes td", has_text="新品通知").wait_for()
        await run_jobs()
        assert "退烧贴到货啦" in [m["summary"] for m in await chat(api, openid, kind="custom")]

    # Prices are typed in yuan and stored in fen; a wrong price is refused with the text kept.
    await page.goto(f"{live_app}/admin?tab=catalogue&q=退烧")
    price = page.locator(f"#catalogue tr[data-sku='{sku}'] input[name=price]")
    await price.fill("12.5元")
    await page.get_by_role("button", name="改价").click()
    await page.locator("#catalogue .msg", has_text="价格写成 12.50 这样的元").wait_for()
    assert await price.input_value() == "12.5元"
    await price.fill("12.5")
    await page.get_by_role("button", name="改价").click()
    await page.locator("#catalogue .msg", has_text="已改价").wait_for()
    async with unit_of_work() as s:
        assert await s.scalar(text("SELECT base_price_fen FROM skus WHERE id = :k"), {"k": sku}) == 1250
    await page.screenshot(path=str(SHOTS / "console-admin-catalogue.png"))

    # The store's own price (a listing) is set on the same screen once a store is chosen.
    await page.goto(f"{live_app}/admin?tab=catalogue&q=退烧&store={store}")
    listing = page.locator(f"#catalogue tr[data-sku='{sku}'] form.listing")
    await listing.locator("input[name=price]").fill("9.9")
    await listing.get_by_role("button", name="保存").click()
    await listing.locator(".msg", has_text="已保存").wait_for()
    async with unit_of_work() as s:
        row = (
            await s.execute(
                text("SELECT price_fen, listed FROM store_listings WHERE store_id = :s AND sku_id = :k"),
                {"s": store, "k": sku},
            )
        ).one()
    assert tuple(row) == (990, True)

    # Opening hours, day by day (an empty day is a day off; half a day typed is explained, nothing saved).
    await page.goto(f"{live_app}/admin?tab=stores")
    row = page.locator(f"#stores tr[data-store='{store}']")
    await row.get_by_text("修改营业时间").click()
    for d in range(7):
        await row.get_by_label(f"周{'一二三四五六日'[d]}开门").fill("")
        await row.get_by_label(f"周{'一二三四五六日'[d]}关门").fill("")
    await row.get_by_label("周一开门").fill("09:00")
    await row.get_by_label("周一关门").fill("21:00")
    await row.get_by_label("周二开门").fill("09:00")
    await row.get_by_role("button", name="保存营业时间").click()
    await row.locator(".msg", has_text="要一起填").wait_for()
    await row.get_by_label("周二关门").fill("02:00")  # overnight: until 2 am on Wednesday
    await row.get_by_role("button", name="保存营业时间").click()
    await page.locator(f"#stores tr[data-store='{store}']", has_text="周一 09:00–21:00").wait_for()
    async with unit_of_work() as s:
        hours = (
            await s.execute(
                text("SELECT weekday, open_min, close_min FROM store_hours WHERE store_id = :s ORDER BY weekday"),
                {"s": store},
            )
        ).all()
    assert [tuple(h) for h in hours] == [(0, 540, 1260), (1, 540, 24 * 60 + 120)]
