"""Sandbox official-account API on WeChat's paths: tokens, menu, QR codes, messages, tags, JS tickets."""

from __future__ import annotations

import base64
import io
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import qrcode
from litestar import Request, Response, Router, get, post
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.db import unit_of_work
from wechat.sandbox.official_models import (
    OaAccount,
    OaMassSend,
    OaMenu,
    OaMessage,
    OaQrCode,
    OaTag,
    OaUser,
    OaUserTag,
)
from wechat.sandbox.official_store import (
    ApiProblem,
    SandboxError,
    api_problem,
    check_credential,
    expires_in,
    get_account,
    get_user,
    issue_credential,
    json_body,
    mount_prefix,
    ts,
    wechat_error,
    wechat_json,
)

OK = {"errcode": 0, "errmsg": "ok"}
CUSTOMER_SERVICE_WINDOW = timedelta(hours=48)
MASS_QUOTA_PER_MONTH = 4  # service accounts
MAX_TAGS = 100
MAX_TAGS_PER_USER = 20
SYSTEM_TAGS = (0, 1, 2)
CUSTOM_TYPES = {
    "text",
    "image",
    "voice",
    "video",
    "music",
    "news",
    "mpnews",
    "mpnewsarticle",
    "msgmenu",
    "wxcard",
    "miniprogrampage",
}


async def _account_by_token(session: AsyncSession, request: Request) -> OaAccount:
    cred = await check_credential(session, "access_token", request.query_params.get("access_token"))
    account = await get_account(session, cred.owner)
    if account is None:
        raise SandboxError(40013, "invalid appid")
    return account


async def _follower(session: AsyncSession, appid: str, openid: Any) -> OaUser:
    if not isinstance(openid, str) or not openid:
        raise SandboxError(40003, "invalid openid")
    user = await get_user(session, appid, openid)
    if user is None:
        raise SandboxError(40003, "invalid openid")
    return user


def _utf8_len(value: Any) -> int:
    return len(str(value or "").encode())


# --- access token -----------------------------------------------------------------------------------------


async def _check_app(session: AsyncSession, appid: Any, secret: Any) -> OaAccount:
    account = await get_account(session, appid) if isinstance(appid, str) and appid else None
    if account is None:
        raise SandboxError(40013, "invalid appid")
    if not isinstance(secret, str) or not secrets.compare_digest(secret, account.secret):
        raise SandboxError(40125, "invalid appsecret")
    return account


@post("/cgi-bin/stable_token", status_code=200)
async def stable_token(request: Request) -> Response[bytes]:
    body = await json_body(request)
    if body.get("grant_type") != "client_credential":
        raise SandboxError(40002, "invalid grant_type")
    async with unit_of_work() as session:
        account = await _check_app(session, body.get("appid"), body.get("secret"))
        force = bool(body.get("force_refresh"))
        cred, _ = await issue_credential(session, "access_token", account.appid, reuse=not force, revoke_others=force)
        return wechat_json({"access_token": cred.value, "expires_in": expires_in(cred)})


@get("/cgi-bin/token")
async def legacy_token(request: Request) -> Response[bytes]:
    """The old endpoint: every call issues a new token and invalidates the previous one."""
    q = request.query_params
    if q.get("grant_type") != "client_credential":
        raise SandboxError(40002, "invalid grant_type")
    async with unit_of_work() as session:
        account = await _check_app(session, q.get("appid"), q.get("secret"))
        cred, _ = await issue_credential(session, "access_token", account.appid, reuse=False, revoke_others=True)
        return wechat_json({"access_token": cred.value, "expires_in": expires_in(cred)})


@get("/cgi-bin/ticket/getticket")
async def get_ticket(request: Request) -> Response[bytes]:
    async with unit_of_work() as session:
        account = await _account_by_token(session, request)
        if request.query_params.get("type") != "jsapi":
            raise SandboxError(40097, "invalid args: only type=jsapi is simulated")
        cred, _ = await issue_credential(session, "jsapi_ticket", account.appid, reuse=True)
        return wechat_json({**OK, "ticket": cred.value, "expires_in": expires_in(cred)})


# --- menu -------------------------------------------------------------------------------------------------


def validate_menu(menu: Any) -> None:
    """WeChat's checks: ≤ 3 buttons of ≤ 5 sub-buttons, names ≤ 16/60 bytes, keys ≤ 128, http(s) URLs."""
    buttons = menu.get("button") if isinstance(menu, dict) else None
    if not isinstance(buttons, list) or not buttons:
        raise SandboxError(40016, "invalid button size")
    if len(buttons) > 3:
        raise SandboxError(40016, "invalid button size")
    for button in buttons:
        if not isinstance(button, dict):
            raise SandboxError(47001, "data format error")
        subs = button.get("sub_button")
        if subs:
            if not isinstance(subs, list) or len(subs) > 5:
                raise SandboxError(40023, "invalid sub button size")
            if not 0 < _utf8_len(button.get("name")) <= 16:
                raise SandboxError(40018, "invalid button name size")
            for sub in subs:
                _validate_leaf(sub, max_name=60)
        else:
            _validate_leaf(button, max_name=16)


def _validate_leaf(button: Any, *, max_name: int) -> None:
    if not isinstance(button, dict):
        raise SandboxError(47001, "data format error")
    kind = button.get("type")
    if kind not in ("click", "view", "miniprogram"):
        raise SandboxError(40017, "invalid button type")
    if not 0 < _utf8_len(button.get("name")) <= max_name:
        raise SandboxError(40018 if max_name == 16 else 40025, "invalid button name size")
    if kind == "click" and not 0 < _utf8_len(button.get("key")) <= 128:
        raise SandboxError(40019, "invalid button key size")
    if kind in ("view", "miniprogram"):
        url = str(button.get("url") or "")
        if not url.startswith(("http://", "https://")) or len(url) > 1024:
            raise SandboxError(40055, "invalid button url domain")
    if kind == "miniprogram" and not (button.get("appid") and button.get("pagepath")):
        raise SandboxError(40166, "invalid appid or pagepath for miniprogram button")


@post("/cgi-bin/menu/create", status_code=200)
async def menu_create(request: Request) -> Response[bytes]:
    body = await json_body(request)
    async with unit_of_work() as session:
        account = await _account_by_token(session, request)
        validate_menu(body)
        menu = {"button": body["button"]}
        stmt = insert(OaMenu).values(appid=account.appid, menu=menu, updated_at=clock.now())
        await session.execute(
            stmt.on_conflict_do_update(index_elements=[OaMenu.appid], set_={"menu": menu, "updated_at": clock.now()})
        )
        return wechat_json(OK)


@get("/cgi-bin/menu/get")
async def menu_get(request: Request) -> Response[bytes]:
    async with unit_of_work() as session:
        account = await _account_by_token(session, request)
        menu = await session.get(OaMenu, account.appid)
        if menu is None:
            raise SandboxError(46003, "menu no exist")
        return wechat_json({"menu": menu.menu})


@get("/cgi-bin/menu/delete")
async def menu_delete(request: Request) -> Response[bytes]:
    async with unit_of_work() as session:
        account = await _account_by_token(session, request)
        await session.execute(delete(OaMenu).where(OaMenu.appid == account.appid))
        return wechat_json(OK)


# --- parametric QR codes ------------------------------------------------------------------------------------


@post("/cgi-bin/qrcode/create", status_code=200)
async def qrcode_create(request: Request) -> Response[bytes]:
    body = await json_body(request)
    action = body.get("action_name")
    scene = ((body.get("action_info") or {}).get("scene") or {}) if isinstance(body.get("action_info"), dict) else {}
    scene_str = scene.get("scene_str") if isinstance(scene, dict) else None
    scene_id = scene.get("scene_id") if isinstance(scene, dict) else None
    if action in ("QR_STR_SCENE", "QR_LIMIT_STR_SCENE"):
        if not isinstance(scene_str, str) or not 1 <= len(scene_str) <= 64:
            raise SandboxError(40097, "invalid args: scene_str must be 1 to 64 characters")
        scene_id = None
    elif action == "QR_SCENE":
        if not isinstance(scene_id, int) or not 0 < scene_id <= 0xFFFFFFFF:
            raise SandboxError(40097, "invalid args: scene_id must be a positive 32-bit integer")
        scene_str = None
    elif action == "QR_LIMIT_SCENE":
        if not isinstance(scene_id, int) or not 1 <= scene_id <= 100000:
            raise SandboxError(40097, "invalid args: scene_id must be 1 to 100000 for permanent codes")
        scene_str = None
    else:
        raise SandboxError(40097, "invalid args: unknown action_name")
    permanent = action.startswith("QR_LIMIT")
    expire = None
    if not permanent:
        try:
            expire = int(body.get("expire_seconds") or 60)
        except (TypeError, ValueError):
            raise SandboxError(40097, "invalid args: expire_seconds") from None
        expire = max(60, min(expire, 2_592_000))
    ticket = "gQ" + base64.b64encode(secrets.token_bytes(48)).decode()
    url = f"{mount_prefix(request, '/cgi-bin/qrcode/create')}/phone?scan={quote(ticket, safe='')}"
    async with unit_of_work() as session:
        account = await _account_by_token(session, request)
        now = clock.now()
        session.add(
            OaQrCode(
                ticket=ticket,
                appid=account.appid,
                action_name=action,
                scene_str=scene_str,
                scene_id=scene_id,
                url=url,
                expires_at=now + timedelta(seconds=expire) if expire else None,
                created_at=now,
            )
        )
    out: dict[str, Any] = {"ticket": ticket, "url": url}
    if expire:
        out["expire_seconds"] = expire
    return wechat_json(out)


def qr_png(content: str) -> bytes:
    img = qrcode.make(content, box_size=8, border=2)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@get("/cgi-bin/showqrcode")
async def show_qrcode(request: Request) -> Response[bytes]:
    ticket = request.query_params.get("ticket", "")
    async with unit_of_work() as session:
        qr = await session.get(OaQrCode, ticket) if ticket else None
        if qr is None or (qr.expires_at is not None and qr.expires_at <= clock.now()):
            return Response(b"invalid or expired ticket", status_code=404, media_type="text/plain")
        content = qr.url
    return Response(qr_png(content), media_type="image/png", headers={"Cache-Control": "max-age=3600"})


# --- messages ---------------------------------------------------------------------------------------------


def _template_summary(data: dict[str, Any]) -> str:
    for value in data.values():
        if isinstance(value, dict) and value.get("value"):
            return str(value["value"])[:200]
    return ""


@post("/cgi-bin/message/template/send", status_code=200)
async def template_send(request: Request) -> Response[bytes]:
    body = await json_body(request)
    async with unit_of_work() as session:
        account = await _account_by_token(session, request)
        user = await _follower(session, account.appid, body.get("touser"))
        template_id = body.get("template_id")
        if not isinstance(template_id, str) or not template_id:
            raise SandboxError(40037, "invalid template_id")
        data = body.get("data")
        if not isinstance(data, dict) or not all(isinstance(v, dict) and "value" in v for v in data.values()):
            raise SandboxError(47001, "data format error")
        if not user.following:
            raise SandboxError(43004, "require subscribe")
        client_msg_id = body.get("client_msg_id")
        if client_msg_id:
            # A retried send with the same client_msg_id is answered with the first msgid, not sent twice.
            earlier = await session.scalar(
                select(OaMessage).where(
                    OaMessage.appid == account.appid,
                    OaMessage.kind == "template",
                    OaMessage.body["client_msg_id"].astext == str(client_msg_id),
                )
            )
            if earlier is not None:
                return wechat_json({**OK, "msgid": earlier.msgid})
        msgid = secrets.randbits(62)
        session.add(
            OaMessage(
                appid=account.appid,
                openid=user.openid,
                direction="out",
                kind="template",
                msg_type=template_id,
                summary=_template_summary(data),
                body=body,
                msgid=msgid,
                created_at=clock.now(),
            )
        )
        return wechat_json({**OK, "msgid": msgid})


def _custom_summary(msgtype: str, content: Any) -> str:
    if not isinstance(content, dict):
        return ""
    if msgtype == "text":
        return str(content.get("content", ""))[:500]
    if msgtype == "news":
        articles = content.get("articles") or [{}]
        return str(articles[0].get("title", "")) if isinstance(articles[0], dict) else ""
    if msgtype == "miniprogrampage":
        return str(content.get("title", ""))
    return f"[{msgtype}]"


@post("/cgi-bin/message/custom/send", status_code=200)
async def custom_send(request: Request) -> Response[bytes]:
    body = await json_body(request)
    async with unit_of_work() as session:
        account = await _account_by_token(session, request)
        user = await _follower(session, account.appid, body.get("touser"))
        msgtype = body.get("msgtype")
        if msgtype not in CUSTOM_TYPES:
            raise SandboxError(40008, "invalid message type")
        content = body.get(msgtype)
        if not isinstance(content, dict):
            raise SandboxError(47001, "data format error")
        if msgtype == "text":
            if not str(content.get("content") or "").strip():
                raise SandboxError(44004, "empty content")
            if _utf8_len(content.get("content")) > 2048:
                raise SandboxError(45002, "content size out of limit")
        last = user.last_interaction_at
        if not user.following or last is None or clock.now() - last > CUSTOMER_SERVICE_WINDOW:
            raise SandboxError(45015, "response out of time limit or subscription is canceled")
        session.add(
            OaMessage(
                appid=account.appid,
                openid=user.openid,
                direction="out",
                kind="custom",
                msg_type=msgtype,
                summary=_custom_summary(msgtype, content),
                body=body,
                created_at=clock.now(),
            )
        )
        return wechat_json(OK)


@post("/cgi-bin/message/mass/sendall", status_code=200)
async def mass_sendall(request: Request) -> Response[bytes]:
    body = await json_body(request)
    filt = body.get("filter")
    msgtype = body.get("msgtype")
    if not isinstance(filt, dict) or msgtype not in ("text", "mpnews", "image", "voice", "mpvideo", "wxcard"):
        raise SandboxError(47001, "data format error")
    content = body.get(msgtype)
    if not isinstance(content, dict) or (msgtype == "text" and not str(content.get("content") or "").strip()):
        raise SandboxError(44004, "empty content")
    async with unit_of_work() as session:
        account = await _account_by_token(session, request)
        now_sh = clock.now_shanghai()
        month_start = now_sh.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        used = await session.scalar(
            select(func.count())
            .select_from(OaMassSend)
            .where(OaMassSend.appid == account.appid, OaMassSend.created_at >= month_start)
        )
        if (used or 0) >= MASS_QUOTA_PER_MONTH:
            raise SandboxError(45028, "has no masssend quota")
        recipients = select(OaUser.openid).where(OaUser.appid == account.appid, OaUser.following.is_(True))
        tag_id = None
        if not filt.get("is_to_all"):
            tag_id = filt.get("tag_id")
            if not isinstance(tag_id, int) or await session.get(OaTag, (account.appid, tag_id)) is None:
                raise SandboxError(40050, "invalid tag id")
            recipients = recipients.where(
                OaUser.openid.in_(
                    select(OaUserTag.openid).where(OaUserTag.appid == account.appid, OaUserTag.tag_id == tag_id)
                )
            )
        openids = list((await session.scalars(recipients.order_by(OaUser.openid))).all())
        mass = OaMassSend(
            appid=account.appid, tag_id=tag_id, body=body, recipients=len(openids), created_at=clock.now()
        )
        session.add(mass)
        await session.flush()
        summary = _custom_summary(msgtype, content) if msgtype == "text" else f"[{msgtype}]"
        for openid in openids:
            session.add(
                OaMessage(
                    appid=account.appid,
                    openid=openid,
                    direction="out",
                    kind="mass",
                    msg_type=msgtype,
                    summary=summary,
                    body=body,
                    msgid=mass.id,
                    created_at=clock.now(),
                )
            )
        return wechat_json(
            {"errcode": 0, "errmsg": "send job submission success", "msg_id": mass.id, "msg_data_id": mass.id}
        )


# --- users and tags ---------------------------------------------------------------------------------------


@get("/cgi-bin/user/info")
async def user_info(request: Request) -> Response[bytes]:
    async with unit_of_work() as session:
        account = await _account_by_token(session, request)
        user = await _follower(session, account.appid, request.query_params.get("openid"))
        if not user.following:
            return wechat_json({"subscribe": 0, "openid": user.openid})
        tags = (
            await session.scalars(
                select(OaUserTag.tag_id).where(OaUserTag.appid == account.appid, OaUserTag.openid == user.openid)
            )
        ).all()
        scene = user.subscribe_scene or ""
        return wechat_json(
            {
                "subscribe": 1,
                "openid": user.openid,
                "language": "zh_CN",
                "subscribe_time": ts(user.subscribed_at),
                "unionid": user.unionid,
                "remark": "",
                "groupid": 0,
                "tagid_list": sorted(tags),
                "subscribe_scene": "ADD_SCENE_QR_CODE" if scene else "ADD_SCENE_SEARCH",
                "qr_scene": int(scene) if scene.isdigit() else 0,
                "qr_scene_str": "" if scene.isdigit() else scene,
            }
        )


def _tag_name(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    tag = body.get("tag")
    if not isinstance(tag, dict):
        raise SandboxError(47001, "data format error")
    name = tag.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SandboxError(45158, "tag name too long")  # WeChat's code for an empty name as well
    if _utf8_len(name) > 30:
        raise SandboxError(45158, "tag name too long")
    return tag, name


@post("/cgi-bin/tags/create", status_code=200)
async def tags_create(request: Request) -> Response[bytes]:
    body = await json_body(request)
    _, name = _tag_name(body)
    async with unit_of_work() as session:
        account = await _account_by_token(session, request)
        tags = (await session.scalars(select(OaTag).where(OaTag.appid == account.appid))).all()
        if any(t.name == name for t in tags):
            raise SandboxError(45157, "invalid tag name: the name already exists")
        if len(tags) >= MAX_TAGS:
            raise SandboxError(45056, "too many tags")
        tag_id = max([99, *(t.tag_id for t in tags)]) + 1  # WeChat's own tags are 0, 1, 2; ours start at 100
        session.add(OaTag(appid=account.appid, tag_id=tag_id, name=name))
        return wechat_json({"tag": {"id": tag_id, "name": name}})


@get("/cgi-bin/tags/get")
async def tags_get(request: Request) -> Response[bytes]:
    async with unit_of_work() as session:
        account = await _account_by_token(session, request)
        counts = (
            select(OaUserTag.tag_id, func.count().label("n"))
            .where(OaUserTag.appid == account.appid)
            .group_by(OaUserTag.tag_id)
            .subquery()
        )
        rows = (
            await session.execute(
                select(OaTag.tag_id, OaTag.name, func.coalesce(counts.c.n, 0))
                .outerjoin(counts, counts.c.tag_id == OaTag.tag_id)
                .where(OaTag.appid == account.appid)
                .order_by(OaTag.tag_id)
            )
        ).all()
        return wechat_json({"tags": [{"id": r[0], "name": r[1], "count": int(r[2])} for r in rows]})


async def _tag(session: AsyncSession, appid: str, tag_id: Any) -> OaTag:
    if isinstance(tag_id, int) and tag_id in SYSTEM_TAGS:
        raise SandboxError(45058, "can't modify sys tag")
    tag = await session.get(OaTag, (appid, tag_id)) if isinstance(tag_id, int) else None
    if tag is None:
        raise SandboxError(45159, "invalid tag id")
    return tag


@post("/cgi-bin/tags/update", status_code=200)
async def tags_update(request: Request) -> Response[bytes]:
    body = await json_body(request)
    raw, name = _tag_name(body)
    async with unit_of_work() as session:
        account = await _account_by_token(session, request)
        tag = await _tag(session, account.appid, raw.get("id"))
        clash = await session.scalar(
            select(OaTag).where(OaTag.appid == account.appid, OaTag.name == name, OaTag.tag_id != tag.tag_id)
        )
        if clash is not None:
            raise SandboxError(45157, "invalid tag name: the name already exists")
        tag.name = name
        return wechat_json(OK)


@post("/cgi-bin/tags/delete", status_code=200)
async def tags_delete(request: Request) -> Response[bytes]:
    body = await json_body(request)
    raw = body.get("tag")
    if not isinstance(raw, dict):
        raise SandboxError(47001, "data format error")
    async with unit_of_work() as session:
        account = await _account_by_token(session, request)
        tag = await _tag(session, account.appid, raw.get("id"))
        await session.execute(delete(OaUserTag).where(OaUserTag.appid == account.appid, OaUserTag.tag_id == tag.tag_id))
        await session.delete(tag)
        return wechat_json(OK)


async def _batch(request: Request, *, tagging: bool) -> Response[bytes]:
    body = await json_body(request)
    openids = body.get("openid_list")
    if not isinstance(openids, list) or not openids:
        raise SandboxError(40003, "invalid openid")
    if len(openids) > 50:
        raise SandboxError(40032, "invalid openid list size")
    async with unit_of_work() as session:
        account = await _account_by_token(session, request)
        tag = await _tag(session, account.appid, body.get("tagid"))
        for openid in openids:
            await _follower(session, account.appid, openid)
        if not tagging:
            await session.execute(
                delete(OaUserTag).where(
                    OaUserTag.appid == account.appid,
                    OaUserTag.tag_id == tag.tag_id,
                    OaUserTag.openid.in_(openids),
                )
            )
            return wechat_json(OK)
        for openid in openids:
            have = set(
                (
                    await session.scalars(
                        select(OaUserTag.tag_id).where(OaUserTag.appid == account.appid, OaUserTag.openid == openid)
                    )
                ).all()
            )
            if tag.tag_id not in have and len(have) >= MAX_TAGS_PER_USER:
                raise SandboxError(45059, "user has too many tags")
        await session.execute(
            insert(OaUserTag)
            .values([{"appid": account.appid, "openid": o, "tag_id": tag.tag_id} for o in dict.fromkeys(openids)])
            .on_conflict_do_nothing()
        )
        return wechat_json(OK)


@post("/cgi-bin/tags/members/batchtagging", status_code=200)
async def tags_batch_tag(request: Request) -> Response[bytes]:
    return await _batch(request, tagging=True)


@post("/cgi-bin/tags/members/batchuntagging", status_code=200)
async def tags_batch_untag(request: Request) -> Response[bytes]:
    return await _batch(request, tagging=False)


@post("/cgi-bin/tags/getidlist", status_code=200)
async def tags_of_user(request: Request) -> Response[bytes]:
    body = await json_body(request)
    async with unit_of_work() as session:
        account = await _account_by_token(session, request)
        user = await _follower(session, account.appid, body.get("openid"))
        ids = (
            await session.scalars(
                select(OaUserTag.tag_id)
                .where(OaUserTag.appid == account.appid, OaUserTag.openid == user.openid)
                .order_by(OaUserTag.tag_id)
            )
        ).all()
        return wechat_json({"tagid_list": list(ids)})


@post("/cgi-bin/user/tag/get", status_code=200)
async def tag_members(request: Request) -> Response[bytes]:
    body = await json_body(request)
    async with unit_of_work() as session:
        account = await _account_by_token(session, request)
        tag = await _tag(session, account.appid, body.get("tagid"))
        after = str(body.get("next_openid") or "")
        stmt = (
            select(OaUserTag.openid)
            .where(OaUserTag.appid == account.appid, OaUserTag.tag_id == tag.tag_id, OaUserTag.openid > after)
            .order_by(OaUserTag.openid)
            .limit(10000)
        )
        openids = list((await session.scalars(stmt)).all())
        out: dict[str, Any] = {"count": len(openids), "next_openid": openids[-1] if len(openids) == 10000 else ""}
        if openids:
            out["data"] = {"openid": openids}
        return wechat_json(out)


# --- the router -------------------------------------------------------------------------------------------


def sandbox_error_handler(_: Request, exc: SandboxError) -> Response[bytes]:
    return wechat_error(exc.errcode, exc.errmsg)


def api_problem_handler(_: Request, exc: ApiProblem) -> Response[dict[str, Any]]:
    return api_problem(exc.status_code, exc.detail)


EXCEPTION_HANDLERS: dict[Any, Any] = {SandboxError: sandbox_error_handler, ApiProblem: api_problem_handler}

WIRE_HANDLERS = [
    stable_token,
    legacy_token,
    get_ticket,
    menu_create,
    menu_get,
    menu_delete,
    qrcode_create,
    show_qrcode,
    template_send,
    custom_send,
    mass_sendall,
    user_info,
    tags_create,
    tags_get,
    tags_update,
    tags_delete,
    tags_batch_tag,
    tags_batch_untag,
    tags_of_user,
    tag_members,
]


def official_router() -> Router:
    """WeChat's official-account paths (`/cgi-bin/...`) plus the sandbox's test API (`/api/...`).

    Mount under `/sandbox` in the dev app, or at the root of a standalone sandbox app.
    """
    from wechat.sandbox.official_api import API_HANDLERS

    return Router(
        path="/",
        route_handlers=[*WIRE_HANDLERS, *API_HANDLERS],
        exception_handlers=EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
