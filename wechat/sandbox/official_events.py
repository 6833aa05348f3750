"""Simulated users acting: follow, scan, text, location, menu taps — pushed to the project's message endpoint."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from sqlalchemy import select

from core import clock
from core.db import unit_of_work
from wechat.crypto import MessageCrypto, make_signature, parse_xml, to_xml
from wechat.errors import WeChatError
from wechat.official_base import http_client
from wechat.sandbox.official_models import OaAccount, OaDelivery, OaMessage, OaQrCode, OaUser
from wechat.sandbox.official_store import ApiProblem, get_account, get_user, message_url, ts

log = structlog.get_logger(__name__)

REPLY_TIMEOUT = 5.0  # WeChat drops the connection after 5 s ...
ATTEMPTS = 3  # ... and tries three times in all


@dataclass
class DeliveryOptions:
    """Per-call knobs of a push (JSON: message_url, timeout, attempts, mode)."""

    url: str | None = None  # where to push; default: the account's message_url
    timeout: float = REPLY_TIMEOUT
    attempts: int = ATTEMPTS
    mode: str | None = None  # plain | compat | safe; default: safe when the account has an AES key

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeliveryOptions:
        mode = data.get("mode")
        if mode not in (None, "plain", "compat", "safe"):
            raise ApiProblem(400, "mode must be plain, compat or safe")
        try:
            timeout = float(data.get("timeout", REPLY_TIMEOUT))
            attempts = int(data.get("attempts", ATTEMPTS))
        except (TypeError, ValueError):
            raise ApiProblem(400, "timeout must be seconds and attempts an integer") from None
        if not 0 < timeout <= 30 or not 1 <= attempts <= 5:
            raise ApiProblem(400, "timeout must be in (0, 30] seconds and attempts 1 to 5")
        url = data.get("message_url")
        if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
            raise ApiProblem(400, "message_url must be an http(s) URL")
        return cls(url=url, timeout=timeout, attempts=attempts, mode=mode)


def _new_msgid() -> int:
    return secrets.randbits(62)


# --- what the user does -------------------------------------------------------------------------------------


async def _load(appid: str | None, openid: str) -> tuple[OaAccount, OaUser]:
    async with unit_of_work() as session:
        account = await get_account(session, appid)
        if account is None:
            raise ApiProblem(404, f"no sandbox account {appid}")
        user = await get_user(session, account.appid, openid)
        if user is None:
            raise ApiProblem(404, f"no simulated user {openid} in {account.appid}")
        session.expunge_all()
        return account, user


def _base(account: OaAccount, user: OaUser, msg_type: str) -> dict[str, Any]:
    return {
        "ToUserName": account.original_id,
        "FromUserName": user.openid,
        "CreateTime": int(clock.now().timestamp()),
        "MsgType": msg_type,
    }


async def _record_and_deliver(
    account: OaAccount,
    openid: str,
    fields: dict[str, Any],
    *,
    kind: str,
    summary: str,
    options: DeliveryOptions,
    follow: bool | None = None,
    scene: str | None = None,
    require_following: bool = True,
) -> dict[str, Any]:
    """Update the user, write the chat line and the delivery row, then push it (outside any transaction)."""
    msg_type = fields["MsgType"] if fields["MsgType"] != "event" else fields["Event"]
    now = clock.now()
    async with unit_of_work() as session:
        user = await session.scalar(
            select(OaUser).where(OaUser.appid == account.appid, OaUser.openid == openid).with_for_update()
        )
        assert user is not None
        if require_following and not user.following:
            raise ApiProblem(409, "this user does not follow the account: follow first")
        if follow is True:
            user.following = True
            user.subscribed_at = now
            user.subscribe_scene = scene
        elif follow is False:
            user.following = False
            user.unsubscribed_at = now
        if follow is not False:
            user.last_interaction_at = now  # opens (or extends) the 48 h customer-service window
        delivery = OaDelivery(
            appid=account.appid,
            openid=openid,
            url=options.url or message_url(account),
            msg_type=fields["MsgType"],
            event=fields.get("Event"),
            mode=options.mode or ("safe" if account.aes_key else "plain"),
            plain_xml=to_xml(fields),
            status="sending",
            created_at=now,
        )
        session.add(delivery)
        await session.flush()
        session.add(
            OaMessage(
                appid=account.appid,
                openid=openid,
                direction="in",
                kind=kind,
                msg_type=msg_type,
                summary=summary,
                body=fields,
                msgid=fields.get("MsgId"),
                delivery_id=delivery.id,
                created_at=now,
            )
        )
        delivery_id = delivery.id
    return await deliver(account, delivery_id, options)


async def follow(
    appid: str | None, openid: str, options: DeliveryOptions, *, ticket: str | None = None, scene: str | None = None
) -> dict[str, Any]:
    """Follow the account, or scan a parametric QR code (subscribe with qrscene_, or SCAN when following)."""
    account, user = await _load(appid, openid)
    if ticket is None and scene is None:
        if user.following:
            raise ApiProblem(409, "this user already follows the account")
        fields = {**_base(account, user, "event"), "Event": "subscribe", "EventKey": ""}
        return await _record_and_deliver(
            account,
            openid,
            fields,
            kind="event",
            summary="关注公众号",
            options=options,
            follow=True,
            require_following=False,
        )
    qr = await _find_qr(account.appid, ticket=ticket, scene=scene)
    key = qr.scene_str if qr.scene_str is not None else str(qr.scene_id)
    if user.following:
        fields = {**_base(account, user, "event"), "Event": "SCAN", "EventKey": key, "Ticket": qr.ticket}
        return await _record_and_deliver(account, openid, fields, kind="event", summary=f"扫码：{key}", options=options)
    fields = {**_base(account, user, "event"), "Event": "subscribe", "EventKey": f"qrscene_{key}", "Ticket": qr.ticket}
    return await _record_and_deliver(
        account,
        openid,
        fields,
        kind="event",
        summary=f"扫码关注：{key}",
        options=options,
        follow=True,
        scene=key,
        require_following=False,
    )


async def _find_qr(appid: str, *, ticket: str | None, scene: str | None) -> OaQrCode:
    async with unit_of_work() as session:
        if ticket:
            qr = await session.get(OaQrCode, ticket)
        else:
            qr = await session.scalar(
                select(OaQrCode)
                .where(
                    OaQrCode.appid == appid,
                    (OaQrCode.scene_str == scene)
                    | (OaQrCode.scene_id == (int(scene) if scene and scene.isdigit() else -1)),
                )
                .order_by(OaQrCode.created_at.desc())
                .limit(1)
            )
        if qr is None or qr.appid != appid:
            raise ApiProblem(404, "no QR code with this ticket/scene: the project creates them with qrcode/create")
        if qr.expires_at is not None and qr.expires_at <= clock.now():
            raise ApiProblem(410, "二维码已过期 (this temporary QR code has expired)")
        qr.scans += 1
        session.expunge(qr)
        return qr


async def unfollow(appid: str | None, openid: str, options: DeliveryOptions) -> dict[str, Any]:
    account, user = await _load(appid, openid)
    if not user.following:
        raise ApiProblem(409, "this user does not follow the account")
    fields = {**_base(account, user, "event"), "Event": "unsubscribe", "EventKey": ""}
    return await _record_and_deliver(
        account, openid, fields, kind="event", summary="取消关注", options=options, follow=False
    )


async def send_text(appid: str | None, openid: str, content: str, options: DeliveryOptions) -> dict[str, Any]:
    if not content.strip():
        raise ApiProblem(400, "content must not be empty")
    account, user = await _load(appid, openid)
    fields = {**_base(account, user, "text"), "Content": content, "MsgId": _new_msgid()}
    return await _record_and_deliver(account, openid, fields, kind="text", summary=content, options=options)


async def send_location(
    appid: str | None,
    openid: str,
    latitude: float,
    longitude: float,
    options: DeliveryOptions,
    *,
    label: str = "",
    scale: int = 15,
    precision: float = 30.0,
    as_event: bool = False,
) -> dict[str, Any]:
    """A location message (the user shares a place in the chat) or a LOCATION event (periodic report)."""
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ApiProblem(400, "latitude must be in [-90, 90] and longitude in [-180, 180]")
    account, user = await _load(appid, openid)
    if as_event:
        fields = {
            **_base(account, user, "event"),
            "Event": "LOCATION",
            "Latitude": f"{latitude:.6f}",
            "Longitude": f"{longitude:.6f}",
            "Precision": f"{precision:.6f}",
        }
        summary = f"上报位置 {latitude:.5f},{longitude:.5f}"
        kind = "event"
    else:
        fields = {
            **_base(account, user, "location"),
            "Location_X": f"{latitude:.6f}",
            "Location_Y": f"{longitude:.6f}",
            "Scale": scale,
            "Label": label,
            "MsgId": _new_msgid(),
        }
        summary = f"[位置] {label or f'{latitude:.5f},{longitude:.5f}'}"
        kind = "location"
    return await _record_and_deliver(account, openid, fields, kind=kind, summary=summary, options=options)


async def click(appid: str | None, openid: str, key: str, options: DeliveryOptions) -> dict[str, Any]:
    account, user = await _load(appid, openid)
    fields = {**_base(account, user, "event"), "Event": "CLICK", "EventKey": key}
    return await _record_and_deliver(account, openid, fields, kind="event", summary=f"点击菜单：{key}", options=options)


async def view(appid: str | None, openid: str, url: str, options: DeliveryOptions) -> dict[str, Any]:
    account, user = await _load(appid, openid)
    fields = {**_base(account, user, "event"), "Event": "VIEW", "EventKey": url, "MenuId": 1}
    return await _record_and_deliver(account, openid, fields, kind="event", summary=f"打开：{url}", options=options)


# --- pushing to the project ---------------------------------------------------------------------------------


def _envelope(account: OaAccount, plain_xml: str, mode: str) -> tuple[dict[str, str], str]:
    """Query string and body as WeChat sends them in this mode."""
    timestamp = str(int(clock.now().timestamp()))
    nonce = str(secrets.randbelow(10**10))
    openid = parse_xml(plain_xml)["FromUserName"]
    params = {
        "signature": make_signature(account.token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": openid,
    }
    if mode == "plain" or not account.aes_key:
        return params, plain_xml
    crypto = MessageCrypto(account.token, account.aes_key, account.appid)
    encrypt = crypto.encrypt(plain_xml)
    params.update(encrypt_type="aes", msg_signature=crypto.msg_signature(timestamp, nonce, encrypt))
    if mode == "compat":
        # Compatible mode: the plaintext fields and the Encrypt element side by side.
        fields = parse_xml(plain_xml)
        return params, to_xml({**fields, "Encrypt": encrypt})
    return params, to_xml({"ToUserName": account.original_id, "Encrypt": encrypt})


def read_reply(account: OaAccount, openid: str, body: str, mode: str) -> dict[str, Any]:
    """Judge a reply as WeChat would: "success"/empty, or XML addressed back to the user (encrypted in safe mode)."""
    text = body.strip()
    if text in ("", "success"):
        return {"status": "ok", "reply_xml": None, "encrypted": False, "reply": None}
    try:
        fields = parse_xml(text)
        encrypted = "Encrypt" in fields
        if encrypted:
            if not account.aes_key:
                raise WeChatError("an encrypted reply but the account has no EncodingAESKey")
            crypto = MessageCrypto(account.token, account.aes_key, account.appid)
            xml = crypto.decrypt_message(
                text,
                str(fields.get("MsgSignature") or ""),
                str(fields.get("TimeStamp") or ""),
                str(fields.get("Nonce") or ""),
            )
            fields = parse_xml(xml)
        else:
            xml = text
    except WeChatError as exc:
        return {
            "status": "bad_reply",
            "reply_xml": None,
            "encrypted": False,
            "reply": None,
            "error": f"reply refused: {exc}",
        }
    reply = _reply_view(fields)
    problems = []
    if mode == "safe" and not encrypted:
        problems.append("safe mode needs an encrypted reply")
    if fields.get("ToUserName") != openid:
        problems.append("ToUserName is not the user's openid")
    if fields.get("FromUserName") != account.original_id:
        problems.append("FromUserName is not the account's original id")
    if not fields.get("MsgType"):
        problems.append("no MsgType")
    if problems:
        return {
            "status": "bad_reply",
            "reply_xml": xml,
            "encrypted": encrypted,
            "reply": reply,
            "error": "; ".join(problems),
        }
    return {"status": "replied", "reply_xml": xml, "encrypted": encrypted, "reply": reply}


def _reply_view(fields: dict[str, Any]) -> dict[str, Any]:
    msg_type = str(fields.get("MsgType") or "")
    view: dict[str, Any] = {"msg_type": msg_type}
    if msg_type == "text":
        view["content"] = fields.get("Content") or ""
    elif msg_type == "news":
        items = (fields.get("Articles") or {}).get("item") or []
        items = items if isinstance(items, list) else [items]
        view["articles"] = [{k.lower(): v for k, v in item.items()} for item in items if isinstance(item, dict)]
    elif msg_type in ("image", "voice", "video", "music"):
        view["media"] = fields.get(msg_type.capitalize())
    return view


def _summary(reply: dict[str, Any]) -> str:
    if reply.get("msg_type") == "text":
        return str(reply.get("content", ""))
    if reply.get("msg_type") == "news" and reply.get("articles"):
        return str(reply["articles"][0].get("title", ""))
    if reply.get("msg_type") == "transfer_customer_service":
        return "[转接客服]"
    return f"[{reply.get('msg_type')}]"


async def deliver(account: OaAccount, delivery_id: int, options: DeliveryOptions) -> dict[str, Any]:
    """POST the delivery to the project, wait up to `timeout`, retry, and record what came back."""
    async with unit_of_work() as session:
        delivery = await session.get(OaDelivery, delivery_id)
        assert delivery is not None
        url, mode, plain_xml, openid = delivery.url, delivery.mode, delivery.plain_xml, delivery.openid
    params, body = _envelope(account, plain_xml, mode)
    http = http_client()
    attempts = 0
    error: str | None = None
    http_status: int | None = None
    outcome: dict[str, Any] = {"status": "failed", "reply_xml": None, "encrypted": False, "reply": None}
    reply_body: str | None = None
    for _ in range(options.attempts):
        attempts += 1
        try:
            resp = await asyncio.wait_for(
                http.post(
                    url,
                    params=params,
                    content=body.encode(),
                    headers={"Content-Type": "text/xml"},
                    timeout=options.timeout,
                ),
                timeout=options.timeout,  # a hard cap: httpx's timeouts are per read, not per request
            )
        except (httpx.TimeoutException, TimeoutError):
            error = f"no answer within {options.timeout:g} s"
            continue
        except httpx.HTTPError as exc:
            error = f"could not connect ({type(exc).__name__})"
            continue
        http_status = resp.status_code
        if resp.status_code != 200:
            error = f"HTTP {resp.status_code}"
            continue
        reply_body = resp.text
        outcome = read_reply(account, openid, reply_body, mode)
        error = outcome.get("error")
        break
    now = clock.now()
    async with unit_of_work() as session:
        delivery = await session.get(OaDelivery, delivery_id)
        assert delivery is not None
        delivery.status = outcome["status"]
        delivery.attempts = attempts
        delivery.http_status = http_status
        delivery.reply_body = reply_body
        delivery.reply_xml = outcome["reply_xml"]
        delivery.reply_encrypted = outcome["encrypted"]
        delivery.error = error if outcome["status"] != "ok" and outcome["status"] != "replied" else None
        delivery.finished_at = now
        reply = outcome["reply"]
        if outcome["status"] == "replied" and reply and reply.get("msg_type") != "transfer_customer_service":
            session.add(
                OaMessage(
                    appid=account.appid,
                    openid=openid,
                    direction="out",
                    kind="reply",
                    msg_type=reply["msg_type"],
                    summary=_summary(reply),
                    body=reply,
                    delivery_id=delivery_id,
                    created_at=now,
                )
            )
        await session.flush()
        result = delivery_json(delivery)
    log.info("sandbox_event_delivered", delivery_id=delivery_id, status=result["status"], attempts=attempts)
    return result


def delivery_json(d: OaDelivery) -> dict[str, Any]:
    reply = None
    if d.reply_xml:
        try:
            reply = _reply_view(parse_xml(d.reply_xml))
        except WeChatError:
            reply = None
    return {
        "id": d.id,
        "openid": d.openid,
        "url": d.url,
        "msg_type": d.msg_type,
        "event": d.event,
        "mode": d.mode,
        "status": d.status,
        "attempts": d.attempts,
        "http_status": d.http_status,
        "error": d.error,
        "xml": d.plain_xml,
        "reply_encrypted": d.reply_encrypted,
        "reply_xml": d.reply_xml,
        "reply": reply,
        "created_at": ts(d.created_at),
    }
