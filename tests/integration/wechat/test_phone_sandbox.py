"""The phone page in a real browser (375 px): follow, menu, chat, template messages, H5 via OAuth, the pay sheet."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar, Request, Response, get, post

from core.settings import get_settings
from wechat.crypto import open_message, seal_reply, text_reply
from wechat.oauth import OAuthClient
from wechat.official import OfficialAccount

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Project:
    """A stand-in for the project on its own origin: message endpoint, an H5 page behind OAuth, a pay page."""

    base: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    pay_params: dict[str, str] = field(default_factory=dict)

    def app(self) -> Litestar:
        project = self

        @post("/wechat/message", status_code=200)
        async def message(request: Request) -> Response[str]:
            s = get_settings()
            incoming = open_message(
                await request.body(),
                dict(request.query_params),
                token=s.wechat_token,
                appid=s.wechat_appid,
                encoding_aes_key=s.wechat_aes_key,
            )
            project.messages.append(incoming.fields)
            what = incoming.fields.get("Content") or incoming.fields.get("EventKey") or incoming.fields.get("Event")
            xml = text_reply(incoming, f"收到：{what}")
            body = seal_reply(
                xml, incoming, token=s.wechat_token, appid=s.wechat_appid, encoding_aes_key=s.wechat_aes_key
            )
            return Response(body, media_type="text/xml")

        @get("/h5")
        async def h5(request: Request) -> Response[str]:
            client = OAuthClient.from_settings()
            code = request.query_params.get("code")
            if not code:
                url = client.authorize_url(f"{project.base}/h5", "st8", "snsapi_userinfo")
                return Response("", status_code=302, headers={"Location": url})
            token = await client.exchange_code(code)
            info = await client.userinfo(token)
            html = f'<!doctype html><meta charset="utf-8"><p id="who">openid={token.openid} 昵称={info.nickname}</p>'
            return Response(html, media_type="text/html")

        @get("/pay")
        async def pay_page() -> Response[str]:
            sandbox = get_settings().sandbox_base
            html = f"""<!doctype html><meta charset="utf-8">
<script src="{sandbox}/static/jsbridge.js"></script>
<button id="pay">去支付</button><p id="result"></p>
<script>
document.getElementById("pay").onclick = function () {{
  WeixinJSBridge.invoke("getBrandWCPayRequest", {json.dumps(project.pay_params)}, function (res) {{
    document.getElementById("result").textContent = res.err_msg;
  }});
}};
</script>"""
            return Response(html, media_type="text/html")

        return Litestar(route_handlers=[message, h5, pay_page], logging_config=None)


@pytest.fixture
async def project() -> AsyncIterator[Project]:
    p = Project()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(p.app(), host="127.0.0.1", port=port, loop="none", log_config=None, access_log=False)
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    p.base = f"http://127.0.0.1:{port}"
    yield p
    server.should_exit = True
    await task


@pytest.fixture
async def api(live_app: str, project: Project) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=get_settings().sandbox_base, timeout=30) as c:
        # Events from the phone go to the stand-in project.
        r = await c.patch(
            f"/api/accounts/{get_settings().wechat_appid}", json={"message_url": project.base + "/wechat/message"}
        )
        assert r.status_code == 200, r.text
        yield c


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = await browser.new_context(viewport={"width": 375, "height": 740}, locale="zh-CN")
        pg = await context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        yield pg
        await browser.close()
        assert errors == [], errors


async def test_follow_menu_chat_template_and_h5(api: httpx.AsyncClient, project: Project, page: Any) -> None:
    oa = OfficialAccount.from_settings()
    await oa.create_menu(
        {
            "button": [
                {"type": "click", "name": "附近门店", "key": "NEARBY"},
                {"name": "我的", "sub_button": [{"type": "view", "name": "商城", "url": project.base + "/h5"}]},
            ]
        }
    )
    openid = (await api.post("/api/users", json={"nickname": "小明"})).json()["openid"]
    await page.goto(get_settings().sandbox_base + f"/phone?openid={openid}")

    await page.get_by_role("button", name="关注公众号").first.click()
    await page.get_by_text("收到：subscribe").wait_for()
    assert project.messages[-1]["Event"] == "subscribe"

    await page.get_by_role("button", name="附近门店").click()
    await page.get_by_text("收到：NEARBY").wait_for()

    await page.get_by_role("button", name="键盘").click()
    await page.get_by_placeholder("发消息").fill("有矿泉水吗")
    await page.get_by_role("button", name="发送", exact=True).click()
    await page.get_by_text("收到：有矿泉水吗").wait_for()

    await oa.send_template(openid, "ORDER_PAID", {"first": "订单已支付", "amount": "¥12.50"}, url=project.base + "/h5")
    await page.get_by_text("订单已支付").wait_for(timeout=6000)  # the page polls every 2 s
    assert await page.locator("[data-template=ORDER_PAID]").count() == 1

    # The view button: the H5 page opens in the web view and signs in through the sandbox's OAuth page.
    await page.get_by_role("button", name="菜单", exact=True).click()
    await page.get_by_role("button", name="≡ 我的").click()
    await page.get_by_role("button", name="商城").click()
    frame = page.frame_locator("#webview-frame")
    await frame.locator("#who").wait_for()
    assert await frame.locator("#who").inner_text() == f"openid={openid} 昵称=小明"
    await page.get_by_role("button", name="关闭").click()

    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    for _ in range(50):  # the VIEW event is reported alongside opening the page, not before it
        if len(project.messages) == 4:
            break
        await asyncio.sleep(0.1)
    kinds = [m.get("Event") or m.get("MsgType") for m in project.messages]
    assert kinds == ["subscribe", "CLICK", "text", "VIEW"]
    assert project.messages[-1]["EventKey"] == project.base + "/h5"


async def test_scan_link_follows_with_scene(api: httpx.AsyncClient, project: Project, page: Any) -> None:
    oa = OfficialAccount.from_settings()
    qr = await oa.create_qrcode("store:7")
    openid = (await api.post("/api/users", json={"nickname": "阿华"})).json()["openid"]
    # What a phone camera opens after scanning the sandbox's QR image.
    await page.goto(qr.url + f"&openid={openid}")
    await page.get_by_text("收到：qrscene_store:7").wait_for()
    user = (await api.get(f"/api/users/{openid}")).json()
    assert user["following"] is True and user["subscribe_scene"] == "store:7"


async def open_in_phone(page: Any, openid: str, url: str) -> Any:
    await page.goto(get_settings().sandbox_base + f"/phone?openid={openid}")
    await page.evaluate("url => document.getElementById('webview-frame').src = url", url)
    await page.evaluate("document.getElementById('webview').classList.remove('hidden')")
    return page.frame_locator("#webview-frame")


async def test_pay_sheet_pays_through_the_pay_sandbox(api: httpx.AsyncClient, project: Project, page: Any) -> None:
    from wechat.pay_client import WeChatPayClient
    from wechat.sandbox.keys import ensure_sandbox_keys

    ensure_sandbox_keys()
    openid = (await api.post("/api/users", json={"nickname": "王姐"})).json()["openid"]
    await api.post(f"/api/users/{openid}/follow", json={})
    async with WeChatPayClient.from_settings() as pay:
        prepay_id = await pay.create_jsapi_order(
            out_trade_no="PHONE0001",
            description="矿泉水 x2",
            total_fen=1250,
            openid=openid,
            notify_url=project.base + "/notify",
        )
        project.pay_params.update(pay.jsapi_params(prepay_id))
    # The H5 page is on another origin than the sandbox: the bridge asks the phone page to call the API.
    frame = await open_in_phone(page, openid, project.base + "/pay")
    await frame.get_by_role("button", name="去支付").click()
    await frame.get_by_text("¥12.50").wait_for()
    await frame.get_by_text("矿泉水 x2").wait_for()
    await frame.get_by_role("button", name="确认支付").click()
    await frame.get_by_text("get_brand_wcpay_request:ok").wait_for()
    order = (await api.get("/api/pay/orders/PHONE0001")).json()
    assert order["trade_state"] == "SUCCESS" and order["payer_openid"] == openid


async def test_pay_sheet_cancel_and_forged_sign(api: httpx.AsyncClient, project: Project, page: Any) -> None:
    project.pay_params.update(
        {
            "appId": get_settings().wechat_appid,
            "timeStamp": "1",
            "nonceStr": "n",
            "package": "prepay_id=wx0",
            "signType": "RSA",
            "paySign": "eA==",
        }
    )
    openid = (await api.post("/api/users", json={"nickname": "路人"})).json()["openid"]
    frame = await open_in_phone(page, openid, project.base + "/pay")
    await frame.get_by_role("button", name="去支付").click()
    await frame.get_by_role("button", name="取消").click()
    await frame.get_by_text("get_brand_wcpay_request:cancel").wait_for()
    # A forged paySign is refused by the sandbox, as WeChat's client refuses it.
    await frame.get_by_role("button", name="去支付").click()
    await frame.get_by_role("button", name="确认支付").click()
    await frame.get_by_text("支付验证签名失败").wait_for()
    await frame.get_by_role("button", name="取消").click()
    await frame.get_by_text("get_brand_wcpay_request:fail").wait_for()


async def test_bridge_outside_the_phone_page(project: Project, page: Any, live_app: str) -> None:
    project.pay_params.update(
        {
            "appId": "wx",
            "timeStamp": "1",
            "nonceStr": "n",
            "package": "prepay_id=wx0",
            "signType": "RSA",
            "paySign": "x",
        }
    )
    await page.goto(project.base + "/pay")  # a plain browser tab: the shim shows its own sheet
    await page.get_by_role("button", name="去支付").click()
    await page.get_by_role("button", name="取消").click()
    await page.get_by_text("get_brand_wcpay_request:cancel").wait_for()
