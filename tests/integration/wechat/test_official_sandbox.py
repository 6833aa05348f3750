"""Official-account client against the sandbox over real HTTP: tokens, menu, QR, messages, tags, events."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import uvicorn
from PIL import Image

from core import clock
from core.settings import get_settings
from wechat.crypto import MessageCrypto, make_signature, open_message, parse_xml, seal_reply, text_reply, to_xml
from wechat.errors import AccessTokenError, CustomerServiceWindowClosed, WeChatAPIError
from wechat.jssdk import js_config
from wechat.official import OfficialAccount


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Receiver:
    """A stand-in for the project's /wechat/message: verifies, decrypts, answers as scripted."""

    url: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)
    # behaviour(n, incoming) -> (delay seconds, status, reply text or None for an encrypted text reply)
    behaviour: Callable[[int, Any], tuple[float, int, str | None]] = lambda n, msg: (0, 200, "success")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        query = dict(parse_qsl(scope["query_string"].decode()))
        s = get_settings()
        incoming = open_message(
            body, query, token=s.wechat_token, appid=s.wechat_appid, encoding_aes_key=s.wechat_aes_key
        )
        n = len(self.seen)
        self.seen.append({"query": query, "body": body, "incoming": incoming})
        delay, status, reply = self.behaviour(n, incoming)
        if delay:
            await asyncio.sleep(delay)
        if reply is None:
            xml = text_reply(incoming, "收到：" + str(incoming.fields.get("Content") or incoming.fields.get("Event")))
            reply = seal_reply(
                xml, incoming, token=s.wechat_token, appid=s.wechat_appid, encoding_aes_key=s.wechat_aes_key
            )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/xml; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": reply.encode()})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(rec, host="127.0.0.1", port=port, loop="none", log_config=None, access_log=False, lifespan="on")
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    rec.url = f"http://127.0.0.1:{port}/wechat/message"
    yield rec
    server.should_exit = True
    await task


@pytest.fixture
def sandbox(live_app: str) -> str:
    return get_settings().sandbox_base


@pytest.fixture
async def api(sandbox: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox, timeout=30) as c:
        yield c


async def fetches(api: httpx.AsyncClient, kind: str = "access_token") -> int:
    r = await api.get("/api/tokens/fetches", params={"kind": kind})
    assert r.status_code == 200, r.text
    return int(r.json()["count"])


async def new_follower(api: httpx.AsyncClient, receiver: Receiver, nickname: str = "小明") -> str:
    r = await api.post("/api/users", json={"nickname": nickname})
    assert r.status_code == 201, r.text
    openid = r.json()["openid"]
    r = await api.post(f"/api/users/{openid}/follow", json={"message_url": receiver.url})
    assert r.status_code == 200 and r.json()["status"] == "ok", r.text
    return openid


# --- access token -----------------------------------------------------------------------------------------


async def test_token_refresh_under_expiry_one_fetch_for_20_callers(api: httpx.AsyncClient) -> None:
    r = await api.put("/api/tokens/ttl", json={"kind": "access_token", "seconds": 60})
    assert r.status_code == 200
    await OfficialAccount.from_settings().get_tags()
    assert await fetches(api) == 1

    clock.advance(120)  # the token has expired, by the clock both sides share
    # Twenty clients, as twenty processes would have: only Redis is shared between them.
    results = await asyncio.gather(*(OfficialAccount.from_settings().get_tags() for _ in range(20)))
    assert results == [[]] * 20
    assert await fetches(api) == 2

    # Still valid for every caller afterwards: no more fetches.
    await asyncio.gather(*(OfficialAccount.from_settings().get_tags() for _ in range(5)))
    assert await fetches(api) == 2


async def test_token_refused_by_wechat_refreshed_once_for_20_callers(api: httpx.AsyncClient) -> None:
    oa = OfficialAccount.from_settings()
    await oa.get_tags()
    assert await fetches(api) == 1
    # WeChat-side expiry the cache does not know about: every caller gets 42001 with the cached token.
    r = await api.post("/api/tokens/expire", json={"kind": "access_token"})
    assert r.json()["expired"] == 1
    await asyncio.gather(*(OfficialAccount.from_settings().get_tags() for _ in range(20)))
    assert await fetches(api) == 2


async def test_bad_secret_and_bad_token(api: httpx.AsyncClient, sandbox: str) -> None:
    s = get_settings()
    bad = OfficialAccount(s.wechat_appid, "wrong", api_base=sandbox, mp_base=sandbox)
    with pytest.raises(WeChatAPIError):
        await bad.get_tags()
    async with httpx.AsyncClient(base_url=sandbox) as c:
        r = await c.post(
            "/cgi-bin/stable_token",
            json={"grant_type": "client_credential", "appid": s.wechat_appid, "secret": "wrong"},
        )
        assert r.json()["errcode"] == 40125
        r = await c.post("/cgi-bin/stable_token", content=b"{not json")
        assert r.json()["errcode"] == 47001
        r = await c.get("/cgi-bin/tags/get", params={"access_token": "A" * 100})
        assert r.status_code == 200 and r.json()["errcode"] == 40001
        r = await c.get("/cgi-bin/tags/get")
        assert r.json()["errcode"] == 41001
        r = await c.get("/cgi-bin/tags/get", params={"access_token": "bad token!"})
        assert r.json()["errcode"] == 40014


async def test_token_error_retried_at_most_once(api: httpx.AsyncClient) -> None:
    await api.put("/api/tokens/ttl", json={"kind": "access_token", "seconds": 1})
    oa = OfficialAccount.from_settings()
    # Every token the sandbox issues is dead on arrival (1 s TTL and the clock jumps past it at once).
    orig = oa._fetch_access_token

    async def fetch_then_expire() -> tuple[str, int]:
        token, _ = await orig()
        clock.advance(2)
        return token, 3600  # lie to the cache so it keeps the dead token

    oa._token._fetch = fetch_then_expire  # type: ignore[method-assign]
    with pytest.raises(AccessTokenError) as exc:
        await oa.get_tags()
    assert exc.value.errcode == 42001
    assert await fetches(api) == 2  # one initial fetch, one refresh, and no third


# --- menu, QR codes, JS-SDK -------------------------------------------------------------------------------


async def test_menu_create_get_delete(api: httpx.AsyncClient) -> None:
    oa = OfficialAccount.from_settings()
    menu = {
        "button": [
            {"type": "click", "name": "附近门店", "key": "NEARBY"},
            {
                "name": "我的",
                "sub_button": [
                    {"type": "view", "name": "订单", "url": "http://shop.test/orders"},
                    {"type": "click", "name": "联系客服", "key": "AGENT"},
                ],
            },
        ]
    }
    with pytest.raises(WeChatAPIError) as exc:
        await oa.get_menu()
    assert exc.value.errcode == 46003
    await oa.create_menu(menu)
    assert (await oa.get_menu()) == {"menu": menu}
    assert (await api.get("/api/menu")).json()["menu"] == menu
    # WeChat's validation, past the client's own checks.
    too_many = {"button": [{"type": "click", "name": f"b{i}", "key": f"k{i}"} for i in range(4)]}
    with pytest.raises(WeChatAPIError) as exc:
        await oa.call("POST", "/cgi-bin/menu/create", body=too_many)
    assert exc.value.errcode == 40016
    bad_url = {"button": [{"type": "view", "name": "x", "url": "javascript:alert(1)"}]}
    with pytest.raises(WeChatAPIError) as exc:
        await oa.call("POST", "/cgi-bin/menu/create", body=bad_url)
    assert exc.value.errcode == 40055
    long_name = {"button": [{"type": "click", "name": "一二三四五六", "key": "k"}]}  # 18 bytes > 16
    with pytest.raises(WeChatAPIError) as exc:
        await oa.call("POST", "/cgi-bin/menu/create", body=long_name)
    assert exc.value.errcode == 40018
    await oa.delete_menu()
    assert (await api.get("/api/menu")).json()["menu"] is None


async def test_qrcode_ticket_and_png(api: httpx.AsyncClient) -> None:
    oa = OfficialAccount.from_settings()
    qr = await oa.create_qrcode("store:12", expire_seconds=600)
    assert qr.expire_seconds == 600 and "/phone?scan=" in qr.url
    png = await oa.fetch_qrcode_png(qr.ticket)
    assert png.startswith(b"\x89PNG")
    img = Image.open(io.BytesIO(png))
    assert img.size[0] >= 100
    permanent = await oa.create_qrcode(42, permanent=True)
    assert permanent.expire_seconds is None
    listed = (await api.get("/api/qrcodes")).json()
    assert {q["scene"] for q in listed} == {"store:12", "42"}
    clock.advance(601)
    async with httpx.AsyncClient() as c:
        assert (await c.get(qr.image_url)).status_code == 404
        assert (await c.get(permanent.image_url)).status_code == 200


async def test_jssdk_config_verified_by_sandbox(api: httpx.AsyncClient) -> None:
    oa = OfficialAccount.from_settings()
    page = get_settings().base_url + "/shop/checkout?id=7#/pay"
    cfg = await js_config(oa, page, js_api_list=["chooseWXPay"])
    r = await api.post("/api/jssdk/verify", json={**cfg, "url": page})
    assert r.json() == {"ok": True, "errMsg": "config:ok"}
    r = await api.post("/api/jssdk/verify", json={**cfg, "url": page.replace("id=7", "id=8")})
    assert r.json()["ok"] is False
    await js_config(oa, page)
    assert await fetches(api, "jsapi_ticket") == 1  # the ticket is shared through Redis too


# --- messages ---------------------------------------------------------------------------------------------


async def test_template_message_recorded(api: httpx.AsyncClient, receiver: Receiver) -> None:
    oa = OfficialAccount.from_settings()
    openid = await new_follower(api, receiver)
    msgid = await oa.send_template(
        openid,
        "ORDER_PAID",
        {"first": "您的订单已支付", "amount": "¥12.50"},
        url="http://shop.test/o/1",
        client_msg_id="order-1-paid",
    )
    assert msgid > 0
    again = await oa.send_template(openid, "ORDER_PAID", {"first": "x"}, client_msg_id="order-1-paid")
    assert again == msgid  # idempotent by client_msg_id
    recorded = (await api.get("/api/messages", params={"kind": "template"})).json()
    assert len(recorded) == 1
    assert recorded[0]["openid"] == openid and recorded[0]["msgid"] == str(msgid)
    assert recorded[0]["body"]["data"]["amount"] == {"value": "¥12.50"}
    assert recorded[0]["summary"] == "您的订单已支付"
    r = await api.post("/api/users", json={"nickname": "路人"})
    with pytest.raises(WeChatAPIError) as exc:
        await oa.send_template(r.json()["openid"], "ORDER_PAID", {"first": "x"})
    assert exc.value.errcode == 43004
    with pytest.raises(WeChatAPIError) as exc:
        await oa.send_template("o-nobody", "ORDER_PAID", {"first": "x"})
    assert exc.value.errcode == 40003


async def test_custom_message_refused_after_48h(api: httpx.AsyncClient, receiver: Receiver) -> None:
    oa = OfficialAccount.from_settings()
    openid = await new_follower(api, receiver)
    await oa.send_text(openid, "欢迎光临")
    clock.advance(47 * 3600)
    await oa.send_news(openid, "本周特惠", "满 50 减 10", "http://shop.test/promo")
    clock.advance(2 * 3600)  # 49 h since the last interaction
    with pytest.raises(CustomerServiceWindowClosed) as exc:
        await oa.send_text(openid, "还在吗")
    assert exc.value.errcode == 45015
    # The user writes again: the window opens again.
    r = await api.post(f"/api/users/{openid}/text", json={"content": "在的", "message_url": receiver.url})
    assert r.json()["status"] == "ok"
    await oa.send_text(openid, "好的")
    customs = (await api.get(f"/api/users/{openid}/messages", params={"kind": "custom"})).json()
    assert [m["summary"] for m in customs] == ["欢迎光临", "本周特惠", "好的"]
    with pytest.raises(WeChatAPIError) as exc:
        await oa.send_custom(openid, "text", {"content": "  "})
    assert exc.value.errcode == 44004


async def test_tags_and_mass_quota(api: httpx.AsyncClient, receiver: Receiver) -> None:
    oa = OfficialAccount.from_settings()
    a = await new_follower(api, receiver, "甲")
    b = await new_follower(api, receiver, "乙")
    vip = await oa.create_tag("会员")
    assert vip == 100
    with pytest.raises(WeChatAPIError) as exc:
        await oa.create_tag("会员")
    assert exc.value.errcode == 45157
    await oa.tag_users(vip, [a, b])
    assert await oa.user_tags(a) == [vip]
    members, cursor = await oa.tag_members(vip)
    assert sorted(members) == sorted([a, b]) and cursor == ""
    await oa.untag_users(vip, [b])
    assert (await oa.get_tags()) == [{"id": vip, "name": "会员", "count": 1}]
    await oa.update_tag(vip, "金卡会员")
    with pytest.raises(WeChatAPIError) as exc:
        await oa.delete_tag(1)
    assert exc.value.errcode == 45058
    for _ in range(4):
        await oa.send_mass_text("周末特惠", tag_id=vip)
    with pytest.raises(WeChatAPIError) as exc:
        await oa.send_mass_text("第五次", tag_id=vip)
    assert exc.value.errcode == 45028
    mass = (await api.get("/api/messages", params={"kind": "mass"})).json()
    assert {m["openid"] for m in mass} == {a} and len(mass) == 4
    await oa.delete_tag(vip)
    assert await oa.get_tags() == []


# --- events pushed to the project -------------------------------------------------------------------------


async def test_event_delivery_signed_encrypted_and_reply_recorded(api: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.behaviour = lambda n, msg: (0, 200, None)  # an encrypted text reply
    r = await api.post("/api/users", json={"nickname": "小红"})
    openid = r.json()["openid"]
    oa = OfficialAccount.from_settings()
    qr = await oa.create_qrcode("ref:u42")
    d = (await api.post(f"/api/users/{openid}/scan", json={"ticket": qr.ticket, "message_url": receiver.url})).json()
    assert d["status"] == "replied", d
    assert d["reply"] == {"msg_type": "text", "content": "收到：subscribe"}
    assert d["reply_encrypted"] is True and d["attempts"] == 1
    seen = receiver.seen[0]
    assert seen["query"]["encrypt_type"] == "aes" and seen["incoming"].encrypted
    assert b"<Encrypt>" in seen["body"] and b"qrscene_" not in seen["body"]  # nothing in clear
    fields = seen["incoming"].fields
    assert fields["Event"] == "subscribe" and fields["EventKey"] == "qrscene_ref:u42"
    assert fields["Ticket"] == qr.ticket and fields["FromUserName"] == openid

    # Already following: scanning gives SCAN with the bare scene.
    d = (await api.post(f"/api/users/{openid}/scan", json={"scene": "ref:u42", "message_url": receiver.url})).json()
    assert receiver.seen[-1]["incoming"].fields["Event"] == "SCAN"
    assert receiver.seen[-1]["incoming"].fields["EventKey"] == "ref:u42"

    d = (
        await api.post(f"/api/users/{openid}/text", json={"content": "附近有店吗", "message_url": receiver.url})
    ).json()
    assert d["reply"]["content"] == "收到：附近有店吗"
    d = (
        await api.post(
            f"/api/users/{openid}/location",
            json={"latitude": 31.2304, "longitude": 121.4737, "label": "人民广场", "message_url": receiver.url},
        )
    ).json()
    loc = receiver.seen[-1]["incoming"].fields
    assert loc["MsgType"] == "location" and loc["Location_X"] == "31.230400" and loc["Label"] == "人民广场"
    await api.post(
        f"/api/users/{openid}/location",
        json={"latitude": 31.2, "longitude": 121.4, "event": True, "message_url": receiver.url},
    )
    assert receiver.seen[-1]["incoming"].fields["Event"] == "LOCATION"
    await api.post(f"/api/users/{openid}/click", json={"key": "NEARBY", "message_url": receiver.url})
    assert receiver.seen[-1]["incoming"].fields["EventKey"] == "NEARBY"
    chat = (await api.get(f"/api/users/{openid}/messages")).json()
    assert [(m["direction"], m["kind"]) for m in chat][:2] == [("in", "event"), ("out", "reply")]
    assert chat[-1]["summary"] == "收到：CLICK"

    receiver.behaviour = lambda n, msg: (0, 200, "success")
    d = (await api.post(f"/api/users/{openid}/unfollow", json={"message_url": receiver.url})).json()
    assert d["status"] == "ok" and receiver.seen[-1]["incoming"].fields["Event"] == "unsubscribe"
    user = (await api.get(f"/api/users/{openid}")).json()
    assert user["following"] is False
    r = await api.post(f"/api/users/{openid}/text", json={"content": "hi", "message_url": receiver.url})
    assert r.status_code == 409


async def test_event_retried_on_timeout_with_same_message(api: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.behaviour = lambda n, msg: (1.0 if n == 0 else 0, 200, None)
    openid = (await api.post("/api/users", json={})).json()["openid"]
    d = (await api.post(f"/api/users/{openid}/follow", json={"message_url": receiver.url, "timeout": 0.4})).json()
    assert d["status"] == "replied" and d["attempts"] == 2
    # await the first (slow) request before comparing: it is still being answered
    await asyncio.sleep(0.8)
    first, second = receiver.seen[0]["incoming"].fields, receiver.seen[1]["incoming"].fields
    assert first == second  # the same message (CreateTime and all) for deduplication

    receiver.behaviour = lambda n, msg: (1.0, 200, "success")
    d = (
        await api.post(f"/api/users/{openid}/text", json={"content": "慢", "message_url": receiver.url, "timeout": 0.3})
    ).json()
    assert d["status"] == "failed" and d["attempts"] == 3 and "0.3" in d["error"]
    await asyncio.sleep(1.0)
    ids = {s["incoming"].fields["MsgId"] for s in receiver.seen[2:]}
    assert len(receiver.seen) == 5 and len(ids) == 1

    receiver.behaviour = lambda n, msg: (0, 500, "oops")
    d = (await api.post(f"/api/users/{openid}/text", json={"content": "x", "message_url": receiver.url})).json()
    assert d["status"] == "failed" and d["attempts"] == 3 and d["http_status"] == 500


async def test_reply_checks(api: httpx.AsyncClient, receiver: Receiver) -> None:
    s = get_settings()
    openid = (await api.post("/api/users", json={})).json()["openid"]

    def plain_reply(n: int, incoming: Any) -> tuple[float, int, str]:
        return 0, 200, text_reply(incoming, "明文回复")

    receiver.behaviour = plain_reply
    d = (await api.post(f"/api/users/{openid}/follow", json={"message_url": receiver.url})).json()
    assert d["status"] == "bad_reply" and "encrypted" in d["error"]
    # Plain mode (no EncodingAESKey in use): a plain reply is right.
    d = (
        await api.post(
            f"/api/users/{openid}/text", json={"content": "hi", "message_url": receiver.url, "mode": "plain"}
        )
    ).json()
    assert d["status"] == "replied" and d["reply"]["content"] == "明文回复"
    assert "encrypt_type" not in receiver.seen[-1]["query"]
    # Compatible mode: plaintext and Encrypt side by side.
    await api.post(f"/api/users/{openid}/text", json={"content": "兼容", "message_url": receiver.url, "mode": "compat"})
    body = receiver.seen[-1]["body"].decode()
    assert "<Content><![CDATA[兼容]]></Content>" in body and "<Encrypt>" in body

    def forged(n: int, incoming: Any) -> tuple[float, int, str]:
        other = MessageCrypto(s.wechat_token, "B" * 43, s.wechat_appid)
        return 0, 200, other.encrypt_message(text_reply(incoming, "伪造"))

    receiver.behaviour = forged
    d = (await api.post(f"/api/users/{openid}/text", json={"content": "x", "message_url": receiver.url})).json()
    assert d["status"] == "bad_reply"

    def wrong_user(n: int, incoming: Any) -> tuple[float, int, str]:
        xml = to_xml(
            {
                "ToUserName": "o-someone-else",
                "FromUserName": incoming.fields["ToUserName"],
                "CreateTime": 1,
                "MsgType": "text",
                "Content": "串号",
            }
        )
        return (
            0,
            200,
            seal_reply(xml, incoming, token=s.wechat_token, appid=s.wechat_appid, encoding_aes_key=s.wechat_aes_key),
        )

    receiver.behaviour = wrong_user
    d = (await api.post(f"/api/users/{openid}/text", json={"content": "x", "message_url": receiver.url})).json()
    assert d["status"] == "bad_reply" and "ToUserName" in d["error"]


async def test_event_signature_is_wechats(api: httpx.AsyncClient, receiver: Receiver) -> None:
    openid = (await api.post("/api/users", json={})).json()["openid"]
    await api.post(f"/api/users/{openid}/follow", json={"message_url": receiver.url})
    q = receiver.seen[0]["query"]
    s = get_settings()
    assert q["signature"] == make_signature(s.wechat_token, q["timestamp"], q["nonce"])
    assert q["openid"] == openid
    envelope = parse_xml(receiver.seen[0]["body"])
    assert q["msg_signature"] == make_signature(s.wechat_token, q["timestamp"], q["nonce"], envelope["Encrypt"])
    assert abs(int(q["timestamp"]) - clock.now().timestamp()) < 5


async def test_first_requests_race_to_create_the_account(api: httpx.AsyncClient) -> None:
    results = await asyncio.gather(*(api.get("/api/users") for _ in range(10)), api.get("/phone"))
    assert [r.status_code for r in results] == [200] * 11


async def test_default_delivery_url_is_the_projects(api: httpx.AsyncClient) -> None:
    accounts = (await api.get("/api/accounts")).json()
    assert accounts[0]["message_url"] == get_settings().base_url + "/wechat/message"
    assert os.environ["PUBLIC_BASE_URL"] == get_settings().base_url
