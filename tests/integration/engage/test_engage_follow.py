"""Following through the sandbox: store QR attribution, welcome, retries processed once, unfollow/refollow."""

from __future__ import annotations

import asyncio

import httpx

from core import clock
from core.settings import get_settings
from engage.models import InboundMessage
from tests.integration.engage.conftest import act, chat, customer_of, new_user, rows, scalar, store
from wechat.crypto import MessageCrypto, make_signature, parse_xml


async def store_qr(app_http: httpx.AsyncClient, admin: dict[str, str], store_id: int) -> dict:
    r = await app_http.post("/api/engage/qrcodes", json={"kind": "store", "store_id": store_id}, headers=admin)
    assert r.status_code == 200, r.text
    return r.json()


async def test_follow_by_store_qr_creates_customer_with_that_store_as_source(
    api: httpx.AsyncClient, app_http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    store_id = await store()
    qr = await store_qr(app_http, admin, store_id)
    assert qr["scene"] == f"store:{store_id}"
    openid = await new_user(api, "阿华")

    delivery = await act(api, openid, "follow", scene=qr["scene"])

    assert delivery["status"] == "replied", delivery
    assert delivery["reply_encrypted"] is True  # the sandbox account is in safe mode
    assert delivery["reply"]["msg_type"] == "news"
    assert "欢迎光临测试门店" in delivery["reply"]["articles"][0]["title"]
    assert (
        f"store%3D{store_id}" in delivery["reply"]["articles"][0]["url"]
        or f"store={store_id}" in delivery["reply"]["articles"][0]["url"]
    )
    customer = await customer_of(openid)
    assert customer.referral_store_id == store_id
    assert customer.referral_scene == f"store:{store_id}"
    f = (await rows("SELECT * FROM engage_followers WHERE customer_id = :c", c=customer.id))[0]
    assert f.subscribed and f.subscribe_scene == f"store:{store_id}"
    counters = (await rows("SELECT scans, subscribes, referrals FROM engage_qr_codes WHERE id = :i", i=qr["id"]))[0]
    assert tuple(counters) == (1, 1, 1)
    r = await app_http.get("/api/engage/referrals", params={"by": "store"}, headers=admin)
    assert r.json() == [{"key": store_id, "scans": 1, "subscribes": 1, "referrals": 1}]


async def _replay(delivery_xml: str, times: int) -> list[httpx.Response]:
    """The same event re-sent as WeChat retries it: same XML, fresh signatures, encrypted, concurrently."""
    s = get_settings()
    crypto = MessageCrypto(s.wechat_token, s.wechat_aes_key or "", s.wechat_appid)
    fields = parse_xml(delivery_xml)

    async def one(i: int) -> httpx.Response:
        ts, nonce = str(1_700_000_000 + i), f"n{i}"
        encrypt = crypto.encrypt(delivery_xml)
        params = {
            "signature": make_signature(s.wechat_token, ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
            "openid": fields["FromUserName"],
            "encrypt_type": "aes",
            "msg_signature": crypto.msg_signature(ts, nonce, encrypt),
        }
        body = f"<xml><ToUserName><![CDATA[{fields['ToUserName']}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        async with httpx.AsyncClient(timeout=10) as c:
            return await c.post(s.base_url + "/wechat/message", params=params, content=body)

    return list(await asyncio.gather(*(one(i) for i in range(times))))


async def test_the_same_event_delivered_three_times_is_processed_once(
    api: httpx.AsyncClient, app_http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    store_id = await store()
    qr = await store_qr(app_http, admin, store_id)
    openid = await new_user(api)
    first = await act(api, openid, "follow", scene=qr["scene"])
    assert first["status"] == "replied"

    again = await _replay(first["xml"], 2)  # with the sandbox's own delivery: three in all

    assert [r.status_code for r in again] == [200, 200]
    s = get_settings()
    crypto = MessageCrypto(s.wechat_token, s.wechat_aes_key or "", s.wechat_appid)
    for r in again:  # a retry gets the first answer, encrypted as the request was
        envelope = parse_xml(r.text)
        plain = crypto.decrypt_message(r.text, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"])
        assert parse_xml(plain)["Articles"]["item"]["Title"] == first["reply"]["articles"][0]["title"]
    assert await scalar("SELECT count(*) FROM engage_messages") == 1
    assert await scalar("SELECT count(*) FROM customers WHERE openid = :o", o=openid) == 1
    assert (await rows("SELECT scans, subscribes, referrals FROM engage_qr_codes"))[0] == (1, 1, 1)


async def test_concurrent_copies_of_a_new_event_are_processed_once(api: httpx.AsyncClient) -> None:
    openid = await new_user(api)
    delivery = await act(api, openid, "follow", message_url="http://127.0.0.1:9/nowhere", attempts=1, timeout=1)
    assert delivery["status"] == "failed"  # it never reached us: now three copies arrive at once

    answers = await _replay(delivery["xml"], 3)

    assert [r.status_code for r in answers] == [200, 200, 200]
    assert await scalar("SELECT count(*) FROM engage_messages") == 1
    assert await scalar("SELECT count(*) FROM customers") == 1
    assert await scalar("SELECT count(*) FROM engage_followers WHERE subscribed") == 1


async def test_unfollow_then_follow_again_reactivates(api: httpx.AsyncClient) -> None:
    openid = await new_user(api)
    await act(api, openid, "follow")
    clock.advance(1)  # events are told apart by sender, CreateTime (seconds) and Event
    d = await act(api, openid, "unfollow")
    assert d["status"] == "ok"  # nothing to say to someone who left
    customer = await customer_of(openid)
    assert not await scalar("SELECT subscribed FROM engage_followers WHERE customer_id = :c", c=customer.id)
    clock.advance(1)
    d = await act(api, openid, "follow")
    assert d["status"] == "replied" and d["reply"]["msg_type"] == "text"
    assert await scalar("SELECT subscribed FROM engage_followers WHERE customer_id = :c", c=customer.id)
    assert await scalar("SELECT count(*) FROM customers") == 1
    kinds = [m["kind"] for m in await chat(api, openid)]
    assert kinds.count("reply") == 2
    assert InboundMessage.__tablename__ == "engage_messages"
