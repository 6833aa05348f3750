"""The customer H5's other paths in a real browser (375 px): switching store, the product page, error states at
checkout (out of stock, a coupon that does not apply), a failed payment paid again, the Native QR fallback when
there is no WeixinJSBridge (a PC browser), cancelling, and asking for a refund. One browser for the module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core import clock
from core.db import unit_of_work
from core.settings import get_settings
from orders.checkout import CheckoutRequest, LineIn
from orders.mark_paid import mark_paid
from orders.place_order import place_order
from orders.transition_order import transition
from shop.coupons.claim_coupon import claim_coupon
from tests.e2e.test_customer_h5 import ARGS, CHROMIUM, SHOTS
from tests.integration.coupons.helpers import template as coupon_template
from tests.integration.orders.factories import make_store, north, world

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def browser(live_server: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        await b.close()


@pytest.fixture
async def page(browser: Any, live_app: str) -> AsyncIterator[Any]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = await browser.new_context(viewport={"width": 375, "height": 740}, locale="zh-CN")
    pg = await context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("dialog", lambda d: d.accept())
    yield pg
    await context.close()
    assert errors == [], errors


async def sign_in(page: Any, live_app: str, store_id: int) -> int:
    """A new WeChat user opens the storefront (the sandbox's OAuth is silent); returns their customer id."""
    async with httpx.AsyncClient(base_url=get_settings().sandbox_base, timeout=30) as api:
        openid = (await api.post("/api/users", json={"nickname": "小张"})).json()["openid"]
    await page.context.add_cookies([{"name": "sandbox_openid", "value": openid, "url": live_app}])
    await page.goto(f"{live_app}/?store={store_id}")
    await page.locator("#store-name").wait_for()
    async with unit_of_work() as s:
        return int(await s.scalar(text("SELECT id FROM customers WHERE openid = :o"), {"o": openid}))


async def named(sku_id: int, title: str) -> int:
    async with unit_of_work() as s:
        return int(
            await s.scalar(
                text(
                    "UPDATE products SET title = :t WHERE id = (SELECT product_id FROM skus WHERE id = :k) RETURNING id"
                ),
                {"t": title, "k": sku_id},
            )
        )


async def orders_of(customer_id: int) -> list[tuple[str, str]]:
    async with unit_of_work() as s:
        rows = await s.execute(
            text("SELECT public_id, status FROM orders WHERE customer_id = :c ORDER BY id"), {"c": customer_id}
        )
        return [(r.public_id, r.status) for r in rows]


async def wait_status(page: Any, label: str) -> None:
    await page.locator("#status", has_text=label).wait_for(timeout=20000)


async def test_store_switch_by_location_and_search_is_remembered(live_app: str, page: Any) -> None:
    w = await world()
    async with unit_of_work() as s:
        other = await make_store(s, lat=north(2000)[0])
        await s.execute(
            text("UPDATE stores SET name = '静安寺店', address = '南京西路 1 号' WHERE id = :s"), {"s": other}
        )
        first = await s.scalar(text("SELECT name FROM stores WHERE id = :s"), {"s": w.store_id})
    await sign_in(page, live_app, w.store_id)

    await page.get_by_role("link", name="切换门店 ›").click()
    # The page asks WeChat where the phone is (the sandbox shim answers People's Square) and sorts by distance.
    await page.wait_for_url("**/stores?lat=*")
    names = await page.locator(".stores .name").all_inner_texts()
    assert names == [first, "静安寺店"]
    assert "2.0公里" in await page.locator(f"[data-store-id='{other}']").inner_text()
    assert "营业中" in await page.locator(f"[data-store-id='{other}']").inner_text()
    await page.screenshot(path=str(SHOTS / "s1-stores.png"))

    await page.get_by_placeholder("搜索门店名称或地址").fill("静安")
    await page.get_by_role("button", name="搜索").click()
    await page.wait_for_url("**q=*")
    assert await page.locator(".stores .name").all_inner_texts() == ["静安寺店"]
    await page.get_by_text("静安寺店").click()
    await page.locator("#store-name", has_text="静安寺店").wait_for()

    await page.goto(f"{live_app}/")  # remembered
    await page.locator("#store-name", has_text="静安寺店").wait_for()
    await page.goto(f"{live_app}/stores?q=没有这家")
    await page.get_by_text("没有找到“没有这家”相关的门店").wait_for()


async def test_product_page_adds_to_cart(live_app: str, page: Any) -> None:
    w = await world(price_fen=899, stock=4)
    product = await named(w.sku_id, "维生素C泡腾片")
    await sign_in(page, live_app, w.store_id)
    await page.get_by_role("link", name="维生素C泡腾片").click()
    await page.wait_for_url(f"**/products/{product}?store={w.store_id}")
    await page.locator("#product-title", has_text="维生素C泡腾片").wait_for()
    assert "仅剩4件" in await page.locator(".stock").inner_text()
    await page.get_by_role("button", name="加入购物车").click()
    await page.locator("#cart-count", has_text="1").wait_for()
    await page.screenshot(path=str(SHOTS / "s2-product.png"))
    await page.locator(".cartbar").click()
    await page.locator("#quote", has_text="应付 ¥8.99").wait_for()
    assert await page.locator(".products .title").all_inner_texts() == ["维生素C泡腾片"]


async def test_out_of_stock_at_checkout_keeps_the_form_and_places_nothing(live_app: str, page: Any) -> None:
    w = await world(price_fen=1000, stock=2)
    await named(w.sku_id, "口罩")
    customer = await sign_in(page, live_app, w.store_id)
    await page.get_by_role("button", name="加入购物车").click()
    await page.locator("#cart-count", has_text="1").wait_for()
    await page.get_by_role("button", name="加入购物车").click()
    await page.locator("#cart-count", has_text="2").wait_for()
    await page.locator(".cartbar").click()
    await page.get_by_label("配送", exact=True).check()
    await page.get_by_placeholder("联系人").fill("王五")
    await page.get_by_placeholder("手机号").fill("13700000000")
    await page.get_by_placeholder("详细地址").fill("人民大道 300 号")
    await page.get_by_placeholder("详细地址").blur()
    await page.locator("#quote", has_text="配送费").wait_for()

    # Meanwhile someone else takes one of the two.
    async with unit_of_work() as s:
        await s.execute(
            text("UPDATE stock_levels SET reserved = on_hand - 1 WHERE store_id = :s AND sku_id = :k"),
            {"s": w.store_id, "k": w.sku_id},
        )
    await page.get_by_role("button", name="提交订单并支付").click()
    error = page.locator("#error")
    await error.wait_for()
    assert await error.inner_text() == "库存不足：口罩 只剩 1 件，请调整数量"
    await page.screenshot(path=str(SHOTS / "e1-out-of-stock.png"))
    assert await page.get_by_placeholder("联系人").input_value() == "王五"
    assert await page.get_by_placeholder("详细地址").input_value() == "人民大道 300 号"
    assert await page.get_by_label("配送", exact=True).is_checked()
    assert await orders_of(customer) == []

    # One fewer and it goes through to the pay sheet.
    await page.get_by_role("button", name="减少").click()
    await page.locator("#quote", has_text="商品 ¥10.00").wait_for()
    assert await error.is_hidden()


async def test_coupon_that_does_not_apply_is_explained_in_chinese(live_app: str, page: Any) -> None:
    w = await world(price_fen=1500)
    customer = await sign_in(page, live_app, w.store_id)
    # A real coupon of this customer whose threshold (满100减10) the ¥15 cart does not reach.
    template_id = await coupon_template(title="满100减10", kind="threshold", threshold_fen=10000, off_fen=1000)
    async with unit_of_work() as s:
        coupon_id = (await claim_coupon(s, customer, template_id)).coupon_id
    await page.get_by_role("button", name="加入购物车").click()
    await page.locator("#cart-count", has_text="1").wait_for()
    await page.locator(".cartbar").click()
    await page.locator("#quote", has_text="应付 ¥15.00").wait_for()
    await page.evaluate(
        "id => { document.addEventListener('quote:failed', e => { window.quoteFailed = e.detail; });"
        " H5.extra.coupon_id = id; H5.requote(); }",
        coupon_id,
    )
    error = page.locator("#error")
    await error.wait_for()
    said = await error.inner_text()
    assert "100" in said and "优惠券" in said, said  # the Chinese reason names the threshold
    assert await page.evaluate("() => window.quoteFailed && window.quoteFailed.status") in (400, 409, 422)
    await page.get_by_role("button", name="提交订单并支付").click()
    await page.wait_for_timeout(300)
    assert (await error.inner_text()) == said
    assert await page.locator("[data-sandbox-pay-sheet]").count() == 0
    await page.screenshot(path=str(SHOTS / "e2-coupon.png"))
    assert await orders_of(customer) == []


async def test_failed_payment_is_said_and_paying_again_succeeds(live_app: str, page: Any) -> None:
    w = await world(price_fen=2000)
    customer = await sign_in(page, live_app, w.store_id)
    await page.get_by_role("button", name="加入购物车").click()
    await page.locator("#cart-count", has_text="1").wait_for()
    await page.locator(".cartbar").click()
    await page.locator("#quote", has_text="应付 ¥20.00").wait_for()
    await page.get_by_role("button", name="提交订单并支付").click()
    await page.get_by_role("button", name="模拟支付失败").click()
    await page.wait_for_url("**/orders/*?pay=fail")
    await page.get_by_text("支付失败，订单已保留，请重新支付").wait_for()
    await page.screenshot(path=str(SHOTS / "e3-pay-failed.png"))
    [(public_id, status)] = await orders_of(customer)
    assert status == "created"

    await page.get_by_role("button", name="重新支付 ¥20.00").click()
    await page.get_by_role("button", name="确认支付").click()
    await wait_status(page, "已支付")
    assert await orders_of(customer) == [(public_id, "paid")]
    await page.locator("#handoff").wait_for()


async def test_native_qr_code_when_there_is_no_weixin_bridge(live_app: str, page: Any) -> None:
    # A PC browser: no WeixinJSBridge (the sandbox shim is not loaded).
    await page.context.route("**/sandbox/static/jsbridge.js", lambda route: route.abort())
    w = await world(price_fen=3300)
    customer = await sign_in(page, live_app, w.store_id)
    await page.get_by_role("button", name="加入购物车").click()
    await page.locator("#cart-count", has_text="1").wait_for()
    await page.locator(".cartbar").click()
    await page.locator("#quote", has_text="应付 ¥33.00").wait_for()
    await page.get_by_role("button", name="提交订单并支付").click()
    await page.wait_for_url("**/orders/*?pay=qr")
    qr = page.locator("#qr-img")
    await qr.wait_for()
    await page.wait_for_function("() => document.querySelector('#qr-img').naturalWidth > 0")
    await page.screenshot(path=str(SHOTS / "e4-native-qr.png"))
    code_url = await qr.get_attribute("data-code-url")
    assert code_url and code_url.startswith("weixin://")

    # The customer scans it with their phone and pays; the page sees the order paid without a click.
    async with httpx.AsyncClient(base_url=get_settings().sandbox_base, timeout=30) as api:
        r = await api.post("/api/pay/pay", json={"code_url": code_url})
        assert r.status_code == 200, r.text
    await wait_status(page, "已支付")
    [(_, status)] = await orders_of(customer)
    assert status == "paid"


async def test_cancel_now_and_cancel_request(live_app: str, page: Any) -> None:
    w = await world(price_fen=1000)
    customer = await sign_in(page, live_app, w.store_id)
    async with unit_of_work() as s:
        unpaid = await place_order(
            s, customer, CheckoutRequest(w.store_id, "pickup", [LineIn(w.sku_id, 1)]), "cancel-key-1"
        )
        started = await place_order(
            s, customer, CheckoutRequest(w.store_id, "pickup", [LineIn(w.sku_id, 2)]), "cancel-key-2"
        )
        await mark_paid(s, started.order_id, "wx-h5-cancel-1", clock.now())
        await transition(s, started.order_id, "preparing", "user:1")
    [(first, _), (second, _)] = await orders_of(customer)

    await page.goto(f"{live_app}/orders/{first}")
    await page.get_by_role("button", name="取消订单").click()
    await wait_status(page, "已取消")
    assert await page.get_by_role("button", name="去支付 ¥10.00").count() == 0

    await page.goto(f"{live_app}/orders/{second}")
    await page.get_by_role("button", name="取消订单").click()
    await page.get_by_text("已申请取消，等待门店处理").wait_for()
    await page.screenshot(path=str(SHOTS / "e5-cancel-request.png"))
    assert await orders_of(customer) == [(first, "cancelled"), (second, "preparing")]
    assert unpaid.order_id != started.order_id


async def test_refund_request_after_pickup(live_app: str, page: Any) -> None:
    w = await world(price_fen=1200)
    customer = await sign_in(page, live_app, w.store_id)
    async with unit_of_work() as s:
        placed = await place_order(
            s, customer, CheckoutRequest(w.store_id, "pickup", [LineIn(w.sku_id, 3)]), "refund-key-1"
        )
        await mark_paid(s, placed.order_id, "wx-h5-refund-1", clock.now())
        for to in ("preparing", "ready", "picked_up"):
            await transition(s, placed.order_id, to, "user:1")
    [(public_id, _)] = await orders_of(customer)

    await page.goto(f"{live_app}/orders/{public_id}")
    await page.get_by_text("申请退款").click()
    await page.get_by_role("button", name="提交退款申请").click()
    await page.locator("#error", has_text="请填写退款原因（1–300字）").wait_for()

    await page.get_by_label("部分商品").check()
    await page.locator("#refund-lines input[type=number]").fill("1")
    await page.get_by_placeholder("请说明遇到的问题（必填）").fill("有一盒压坏了")
    await page.get_by_role("button", name="提交退款申请").click()
    await page.locator(".refund-status", has_text="退款审核中").wait_for()
    await page.screenshot(path=str(SHOTS / "e6-refund.png"))
    assert await page.get_by_role("button", name="提交退款申请").count() == 0
    async with unit_of_work() as s:
        row = (
            await s.execute(
                text("SELECT status, amount_fen, reason FROM refund_requests WHERE order_id = :o"),
                {"o": placed.order_id},
            )
        ).one()
    assert tuple(row) == ("requested", 1200, "有一盒压坏了")
