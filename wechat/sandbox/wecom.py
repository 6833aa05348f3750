"""Sandbox WeCom (企业微信) under `/qyapi`: gettoken and app messages, recorded per staff userid."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.params import FromQuery
from sqlalchemy import func, select

from core import clock
from core.db import unit_of_work
from core.settings import get_settings
from wechat.sandbox.official import EXCEPTION_HANDLERS
from wechat.sandbox.official_models import WecomMessage
from wechat.sandbox.official_store import (
    SandboxError,
    check_credential,
    expires_in,
    issue_credential,
    json_body,
    random_string,
    ts,
    wechat_json,
)

# WeCom and the official account both live at /cgi-bin/ on their own hosts; here WeCom gets a prefix.
PREFIX = "/qyapi"
MSG_TYPES = {"text", "textcard", "markdown", "news", "image", "file", "template_card"}


def _owner() -> str:
    s = get_settings()
    return f"{s.wecom_corpid}:{s.wecom_agentid}"


def _bytes(value: Any) -> int:
    return len(str(value or "").encode())


@get(PREFIX + "/cgi-bin/gettoken")
async def gettoken(request: Request) -> Response[bytes]:
    s = get_settings()
    q = request.query_params
    if q.get("corpid") != s.wecom_corpid:
        raise SandboxError(40013, "invalid corpid")
    if not secrets.compare_digest(q.get("corpsecret") or "", s.wecom_secret):
        raise SandboxError(40001, "invalid secret")
    async with unit_of_work() as session:
        # Like WeCom: the same token until it expires, whoever asks.
        cred, _ = await issue_credential(session, "wecom_token", _owner(), reuse=True)
        return wechat_json({"errcode": 0, "errmsg": "ok", "access_token": cred.value, "expires_in": expires_in(cred)})


def _validate(msgtype: str, content: Any) -> str:
    """WeCom's checks for the simulated message types; returns a one-line summary."""
    if not isinstance(content, dict):
        raise SandboxError(40008, "invalid message type")
    if msgtype == "text":
        if not str(content.get("content") or "").strip():
            raise SandboxError(44004, "empty content")
        if _bytes(content.get("content")) > 2048:
            raise SandboxError(45002, "content size out of limit")
        return str(content["content"])
    if msgtype == "textcard":
        if not content.get("title"):
            raise SandboxError(41016, "missing title")
        if not content.get("description"):
            raise SandboxError(41017, "missing description")
        if not content.get("url"):
            raise SandboxError(41018, "missing url")
        if _bytes(content["title"]) > 128 or _bytes(content["description"]) > 512 or _bytes(content["url"]) > 2048:
            raise SandboxError(45002, "content size out of limit")
        if len(str(content.get("btntxt") or "")) > 4:
            raise SandboxError(45002, "content size out of limit: btntxt is at most 4 characters")
        return str(content["title"])
    if msgtype == "markdown":
        if not str(content.get("content") or "").strip():
            raise SandboxError(44004, "empty content")
        return str(content["content"])[:200]
    return f"[{msgtype}]"


@post(PREFIX + "/cgi-bin/message/send", status_code=200)
async def message_send(request: Request) -> Response[bytes]:
    body = await json_body(request)
    async with unit_of_work() as session:
        await check_credential(session, "wecom_token", request.query_params.get("access_token"), unknown_errcode=40014)
        s = get_settings()
        try:
            agentid = int(body.get("agentid"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SandboxError(40056, "invalid agentid") from None
        if str(agentid) != str(s.wecom_agentid):
            raise SandboxError(40056, "invalid agentid")
        msgtype = body.get("msgtype")
        if msgtype not in MSG_TYPES:
            raise SandboxError(40008, "invalid message type")
        _validate(msgtype, body.get(msgtype))
        users = [u for u in str(body.get("touser") or "").split("|") if u]
        if not users and not body.get("toparty") and not body.get("totag"):
            raise SandboxError(81013, "user & party & tag all invalid")
        if len(users) > 1000:
            raise SandboxError(40003, "invalid userid: at most 1000 users")
        msgid = random_string(40)
        now = clock.now()
        for user in dict.fromkeys(users):
            session.add(
                WecomMessage(
                    corpid=s.wecom_corpid,
                    agentid=agentid,
                    touser=user,
                    msgtype=msgtype,
                    body=body,
                    msgid=msgid,
                    created_at=now,
                )
            )
        return wechat_json(
            {
                "errcode": 0,
                "errmsg": "ok",
                "invaliduser": "",
                "invalidparty": "",
                "invalidtag": "",
                "unlicenseduser": "",
                "msgid": msgid,
                "response_code": random_string(24),
            }
        )


def wecom_message_json(m: WecomMessage) -> dict[str, Any]:
    content = m.body.get(m.msgtype) if isinstance(m.body, dict) else None
    return {
        "id": m.id,
        "touser": m.touser,
        "agentid": m.agentid,
        "msgtype": m.msgtype,
        "content": content,
        "msgid": m.msgid,
        "created_at": ts(m.created_at),
    }


@get("/api/wecom/messages")
async def list_messages(
    touser: FromQuery[str | None] = None, after: FromQuery[int] = 0, limit: FromQuery[int] = 200
) -> list[dict[str, Any]]:
    """Staff messages recorded, oldest first (one per recipient)."""
    stmt = select(WecomMessage).where(WecomMessage.corpid == get_settings().wecom_corpid, WecomMessage.id > after)
    if touser:
        stmt = stmt.where(WecomMessage.touser == touser)
    async with unit_of_work() as session:
        rows = (await session.scalars(stmt.order_by(WecomMessage.id).limit(max(1, min(limit, 1000))))).all()
        return [wecom_message_json(m) for m in rows]


@get("/api/wecom/users")
async def list_recipients() -> list[dict[str, Any]]:
    """Staff userids that received messages, with counts (for the phone page's staff view)."""
    async with unit_of_work() as session:
        rows = (
            await session.execute(
                select(WecomMessage.touser, func.count(), func.max(WecomMessage.created_at))
                .where(WecomMessage.corpid == get_settings().wecom_corpid)
                .group_by(WecomMessage.touser)
                .order_by(func.max(WecomMessage.created_at).desc())
            )
        ).all()
        return [{"userid": r[0], "messages": int(r[1]), "last_at": ts(r[2])} for r in rows]


def wecom_router() -> Router:
    """WeCom's paths under `/qyapi/cgi-bin/...` plus `/api/wecom/...`. Mounted under `/sandbox`, the dev
    setting is WECOM_API_BASE = `<base_url>/sandbox/qyapi`.
    """
    return Router(
        path="/",
        route_handlers=[gettoken, message_send, list_messages, list_recipients],
        exception_handlers=EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
