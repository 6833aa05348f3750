"""The message endpoint itself: safe mode with wechatpy, plain mode, the 5 s budget, and everything it refuses."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs
from wechatpy.crypto import WeChatCrypto

from core import clock
from core.db import unit_of_work
from core.settings import get_settings
from engage import intents
from engage.conversation import Answer, text_reply
from tests.integration.engage.conftest import act, chat, follower, new_user, run_jobs, scalar
from wechat.crypto import MessageCrypto, make_signature, parse_xml, to_xml


def _signed(token: str, **extra: str) -> dict[str, str]:
    ts, nonce = str(int(clock.now().timestamp())), "4242"
    return {"signature": make_signature(token, ts, nonce), "timestamp": ts, "nonce": nonce, **extra}


def _text_xml(openid: str, content: str, msgid: int = 1234567890123456) -> str:
    return to_xml(
        {
            "ToUserName": "gh_test",
            "FromUserName": openid,
            "CreateTime": int(clock.now().timestamp()),
            "MsgType": "text",
            "Content": content,
            "MsgId": msgid,
        }
    )


async def test_server_verification_echoes_only_with_a_valid_signature(app_http: httpx.AsyncClient) -> None:
    s = get_settings()
    r = await app_http.get("/wechat/message", params=_signed(s.wechat_token, echostr="e123"))
    assert (r.status_code, r.text) == (200, "e123")
    r = await app_http.get("/wechat/message", params={**_signed(s.wechat_token, echostr="e123"), "signature": "0" * 40})
    assert r.status_code == 403 and "e123" not in r.text
    r = await app_http.get(f"/wechat/message/{s.wechat_appid}", params=_signed(s.wechat_token, echostr="e9"))
    assert r.text == "e9"


async def test_safe_mode_round_trip_with_wechatpy(app_http: httpx.AsyncClient) -> None:
    s = get_settings()
    assert s.wechat_aes_key
    crypto = WeChatCrypto(s.wechat_token, s.wechat_aes_key, s.wechat_appid)
    ts, nonce = str(int(clock.now().timestamp())), "987654"
    envelope = crypto.encrypt_message(_text_xml("oWechatpyUser000000000000001", "订单"), nonce, ts)
    fields = parse_xml(envelope)
    params = {
        "signature": make_signature(s.wechat_token, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": fields["MsgSignature"],
    }

    r = await app_http.post("/wechat/message", params=params, content=envelope)

    assert r.status_code == 200, r.text
    reply = parse_xml(r.text)
    assert set(reply) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    plain = crypto.decrypt_message(r.text, reply["MsgSignature"], reply["TimeStamp"], reply["Nonce"])
    answer = parse_xml(plain)
    assert answer["ToUserName"] == "oWechatpyUser000000000000001"
    assert answer["MsgType"] == "news" and answer["Articles"]["item"]["Title"] == "您还没有订单"


async def test_plain_mode_gets_a_plain_reply(api: httpx.AsyncClient) -> None:
    openid = await new_user(api)
    d = await act(api, openid, "follow", mode="plain")
    assert d["status"] == "replied" and d["reply_encrypted"] is False and d["mode"] == "plain"


async def test_a_slow_answer_still_replies_within_5_s_and_arrives_as_a_custom_message(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def slow(session: Any, ctx: Any, options: dict[str, Any]) -> Answer:
        import asyncio

        await asyncio.sleep(4.0)  # more than the reply budget (3 s)
        return Answer(text_reply("慢工出细活：这是您的答案"), "intent")

    monkeypatch.setitem(intents.INTENT_HANDLERS, "slow_test", slow)
    async with unit_of_work() as s:
        from engage.rules import create_rule

        await create_rule(
            s,
            None,
            {"match_type": "contains", "pattern": "慢", "reply_type": "intent", "reply": {"intent": "slow_test"}},
        )
    openid = await follower(api)
    clock.advance(1)

    started = time.monotonic()
    d = await act(api, openid, "text", content="慢慢查")
    elapsed = time.monotonic() - started

    assert d["status"] == "ok" and d["attempts"] == 1, d  # "success" in time: WeChat does not retry
    assert elapsed < 5.0
    assert await scalar("SELECT status FROM engage_messages WHERE content = '慢慢查'") == "deferred"
    await run_jobs()
    custom = await chat(api, openid, kind="custom")
    assert [m["summary"] for m in custom] == ["慢工出细活：这是您的答案"]
    assert await scalar("SELECT status FROM engage_messages WHERE content = '慢慢查'") == "answered"
    assert await scalar("SELECT status FROM engage_outbound WHERE purpose = 'deferred_answer'") == "sent"


def _bad_requests(s: Any, openid: str) -> list[tuple[str, dict[str, str], bytes, int]]:
    good = _text_xml(openid, "附近")
    crypto_other = MessageCrypto(s.wechat_token, s.wechat_aes_key, "wxSomeoneElse0001")
    ts, nonce = "1700000000", "1"
    foreign = crypto_other.encrypt(good)
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><xml><ToUserName>gh</ToUserName>'
        f"<FromUserName>{openid}</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>"
        "<Content>&c;</Content><MsgId>1</MsgId></xml>"
    )
    external = bomb.replace('<!ENTITY a "aaaaaaaaaa">', '<!ENTITY a SYSTEM "file:///etc/passwd">')
    lowercase_doctype = bomb.replace("<!DOCTYPE", "<!doctype")
    plain = _signed(s.wechat_token, openid=openid)
    return [
        ("forged signature", {**plain, "signature": "f" * 40}, good.encode(), 403),
        ("no signature", {}, good.encode(), 403),
        (
            "another appid",
            {
                "signature": make_signature(s.wechat_token, ts, nonce),
                "timestamp": ts,
                "nonce": nonce,
                "encrypt_type": "aes",
                "msg_signature": crypto_other.msg_signature(ts, nonce, foreign),
            },
            to_xml({"ToUserName": "gh", "Encrypt": foreign}).encode(),
            403,
        ),
        (
            "forged msg_signature",
            {**_signed(s.wechat_token), "encrypt_type": "aes", "msg_signature": "0" * 40},
            to_xml({"ToUserName": "gh", "Encrypt": foreign}).encode(),
            403,
        ),
        ("oversized", plain, good.replace("附近", "附" * 30000).encode(), 413),
        ("entity expansion", plain, bomb.encode(), 400),
        ("external entity", plain, external.encode(), 400),
        ("doctype in lower case", plain, lowercase_doctype.encode(), 400),
        ("not XML", plain, b"{'json': 'instead'}", 400),
        ("no sender", plain, good.replace(f"<FromUserName><![CDATA[{openid}]]></FromUserName>", "").encode(), 400),
        ("openid in URL differs", {**plain, "openid": "oSomebodyElse"}, good.encode(), 403),
    ]


async def test_bad_input_is_refused_without_any_state_change_and_logged_once(app_http: httpx.AsyncClient) -> None:
    s = get_settings()
    openid = "oForgedUser0000000000000000001"
    cases = _bad_requests(s, openid)
    with capture_logs() as logs:
        for name, params, body, status in cases:
            r = await app_http.post("/wechat/message", params=params, content=body)
            assert r.status_code == status, (name, r.status_code, r.text)
            assert "success" not in r.text
    rejected = [e for e in logs if e.get("event") == "wechat_message_rejected"]
    assert len(rejected) == len(cases)
    for table in ("engage_messages", "customers", "engage_followers", "engage_outbound", "jobs"):
        assert await scalar(f"SELECT count(*) FROM {table}") == 0, table
    # and the same message, correctly signed, is accepted
    r = await app_http.post(
        "/wechat/message", params=_signed(s.wechat_token, openid=openid), content=_text_xml(openid, "附近").encode()
    )
    assert r.status_code == 200 and "<xml>" in r.text
    assert await scalar("SELECT count(*) FROM engage_messages") == 1


async def test_unknown_account_is_404(app_http: httpx.AsyncClient) -> None:
    s = get_settings()
    r = await app_http.post(
        "/wechat/message/wxNoSuchAccount01", params=_signed(s.wechat_token), content=_text_xml("oX" * 5, "hi").encode()
    )
    assert r.status_code == 404
    r = await app_http.get("/wechat/message/wxNoSuchAccount01", params=_signed(s.wechat_token, echostr="x"))
    assert r.status_code == 404
    assert await scalar("SELECT count(*) FROM engage_messages") == 0


async def test_a_second_account_of_the_matrix_has_its_own_endpoint_and_customers(
    api: httpx.AsyncClient, app_http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    from shop.customers.services import create_account

    s = get_settings()
    brand = "wxBrandEast000002"
    async with unit_of_work() as session:  # same token and key as the default: only the AppId tells them apart
        await create_account(
            session,
            appid=brand,
            name="东区服务号",
            secret="brand-secret",
            token=s.wechat_token,
            aes_key=s.wechat_aes_key,
        )
    r = await api.post(
        "/api/accounts",
        json={
            "appid": brand,
            "secret": "brand-secret",
            "token": s.wechat_token,
            "aes_key": s.wechat_aes_key,
            "message_url": f"{s.base_url}/wechat/message/{brand}",
        },
    )
    assert r.status_code == 200, r.text
    r = await api.post("/api/users", json={"appid": brand, "nickname": "东区用户"})
    openid = r.json()["openid"]

    d = await act(api, openid, "follow", appid=brand)
    assert d["status"] == "replied" and d["reply_encrypted"], d
    assert (
        await scalar(
            "SELECT a.appid FROM customers c JOIN official_accounts a ON a.id = c.account_id WHERE c.openid = :o",
            o=openid,
        )
        == brand
    )

    # The same message posted to the default account's endpoint: encrypted for another AppId, refused.
    wrong = await act(api, openid, "text", appid=brand, content="附近", message_url=f"{s.base_url}/wechat/message")
    assert wrong["status"] == "failed" and wrong["http_status"] == 403
    assert await scalar("SELECT count(*) FROM engage_messages") == 1

    r = await app_http.post(
        "/api/engage/menu/publish",
        params={"appid": brand},
        json={"button": [{"type": "click", "name": "附近门店", "key": "NEAREST_STORES"}]},
        headers=admin,
    )
    assert r.status_code == 202, r.text
    await run_jobs()
    menu = (await api.get("/api/menu", params={"appid": brand})).json()["menu"]
    assert menu == {"button": [{"type": "click", "name": "附近门店", "key": "NEAREST_STORES"}]}
    assert (await api.get("/api/menu")).json()["menu"] is None  # the default account's menu is untouched
