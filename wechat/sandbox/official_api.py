"""The sandbox's own JSON API for tests and the phone page (`/api/...`): users, actions, records, token knobs."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select

from core import clock
from core.db import unit_of_work
from wechat.crypto import aes_key_bytes
from wechat.jssdk import check_jsapi_signature
from wechat.sandbox import official_events as events
from wechat.sandbox.official_models import (
    OaAccount,
    OaCredential,
    OaCredentialFetch,
    OaDelivery,
    OaMenu,
    OaMessage,
    OaQrCode,
    OaTag,
    OaUser,
    OaUserTag,
)
from wechat.sandbox.official_store import (
    DEFAULT_KNOBS,
    ApiProblem,
    avatar_color,
    count_fetches,
    create_user,
    expire_credentials,
    get_account,
    get_user,
    knob,
    message_url,
    original_id,
    set_knob,
    ts,
    user_json,
)

CREDENTIAL_KINDS = ("access_token", "jsapi_ticket", "wecom_token", "sns_token")


async def _appid(appid: str | None) -> str:
    async with unit_of_work() as session:
        account = await get_account(session, appid)
        if account is None:
            raise ApiProblem(404, f"no sandbox account {appid}; create it with POST /api/accounts")
        return account.appid


def _body_appid(data: dict[str, Any] | None, request: Request) -> str | None:
    return (data or {}).get("appid") or request.query_params.get("appid")


def account_json(a: OaAccount) -> dict[str, Any]:
    return {
        "appid": a.appid,
        "name": a.name,
        "original_id": a.original_id,
        "message_url": message_url(a),
        "safe_mode": bool(a.aes_key),
    }


def message_json(m: OaMessage) -> dict[str, Any]:
    return {
        "id": m.id,
        "appid": m.appid,
        "openid": m.openid,
        "direction": m.direction,
        "kind": m.kind,
        "msg_type": m.msg_type,
        "summary": m.summary,
        "body": m.body,
        "msgid": str(m.msgid) if m.msgid is not None else None,  # 62-bit ids do not fit a JS number
        "delivery_id": m.delivery_id,
        "created_at": ts(m.created_at),
    }


# --- accounts ---------------------------------------------------------------------------------------------


@get("/api/accounts")
async def list_accounts() -> list[dict[str, Any]]:
    async with unit_of_work() as session:
        await get_account(session, None)
        rows = (await session.scalars(select(OaAccount).order_by(OaAccount.created_at))).all()
        return [account_json(a) for a in rows]


@post("/api/accounts", status_code=200)
async def upsert_account(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Register another official account (a brand/region matrix) or change where its events go."""
    appid, secret, token = data.get("appid"), data.get("secret"), data.get("token")
    if not (
        isinstance(appid, str) and isinstance(secret, str) and isinstance(token, str) and appid and secret and token
    ):
        raise ApiProblem(400, "appid, secret and token are required strings")
    aes_key = data.get("aes_key") or None
    if aes_key is not None:
        try:
            aes_key_bytes(aes_key)
        except ValueError as exc:
            raise ApiProblem(400, str(exc)) from None
    async with unit_of_work() as session:
        account = await session.get(OaAccount, appid)
        if account is None:
            account = OaAccount(appid=appid, original_id=original_id(appid), secret=secret, token=token)
            session.add(account)
        account.secret, account.token, account.aes_key = secret, token, aes_key
        account.name = str(data.get("name") or "沙箱公众号")
        account.message_url = data.get("message_url") or None
        await session.flush()
        return account_json(account)


@patch("/api/accounts/{appid:str}")
async def update_account(appid: FromPath[str], data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    async with unit_of_work() as session:
        account = await get_account(session, appid)
        if account is None:
            raise ApiProblem(404, f"no sandbox account {appid}")
        if "message_url" in data:
            account.message_url = data["message_url"] or None
        if data.get("name"):
            account.name = str(data["name"])
        await session.flush()
        return account_json(account)


# --- users ------------------------------------------------------------------------------------------------


@get("/api/users")
async def list_users(appid: FromQuery[str | None] = None) -> list[dict[str, Any]]:
    app = await _appid(appid)
    async with unit_of_work() as session:
        rows = (await session.scalars(select(OaUser).where(OaUser.appid == app).order_by(OaUser.id))).all()
        return [{**user_json(u), "avatar_color": avatar_color(u.openid)} for u in rows]


@post("/api/users", status_code=201)
async def new_user(request: Request, data: JSONBody[dict[str, Any] | None] = None) -> dict[str, Any]:
    data = data or {}
    app = await _appid(_body_appid(data, request))
    openid = data.get("openid")
    if openid is not None and (not isinstance(openid, str) or not 1 <= len(openid) <= 64):
        raise ApiProblem(400, "openid must be 1 to 64 characters")
    async with unit_of_work() as session:
        user = await create_user(
            session,
            app,
            nickname=data.get("nickname"),
            openid=openid,
            sex=data.get("sex"),
            city=data.get("city"),
        )
        return {**user_json(user), "avatar_color": avatar_color(user.openid)}


@get("/api/users/{openid:str}")
async def one_user(openid: FromPath[str], appid: FromQuery[str | None] = None) -> dict[str, Any]:
    app = await _appid(appid)
    async with unit_of_work() as session:
        user = await get_user(session, app, openid)
        if user is None:
            raise ApiProblem(404, f"no simulated user {openid}")
        tags = (
            await session.scalars(select(OaUserTag.tag_id).where(OaUserTag.appid == app, OaUserTag.openid == openid))
        ).all()
        return {**user_json(user), "avatar_color": avatar_color(openid), "tagid_list": sorted(tags)}


def _opts(data: dict[str, Any] | None) -> events.DeliveryOptions:
    return events.DeliveryOptions.from_json(data or {})


@post("/api/users/{openid:str}/follow", status_code=200)
async def user_follow(
    openid: FromPath[str], request: Request, data: JSONBody[dict[str, Any] | None] = None
) -> dict[str, Any]:
    """Follow; with `ticket` or `scene`, follow by scanning that QR code (SCAN when already following)."""
    data = data or {}
    return await events.follow(
        _body_appid(data, request),
        openid,
        _opts(data),
        ticket=data.get("ticket"),
        scene=str(data["scene"]) if data.get("scene") is not None else None,
    )


@post("/api/users/{openid:str}/scan", status_code=200)
async def user_scan(openid: FromPath[str], request: Request, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    if not data.get("ticket") and data.get("scene") is None:
        raise ApiProblem(400, "give the QR code's ticket or scene")
    return await events.follow(
        _body_appid(data, request),
        openid,
        _opts(data),
        ticket=data.get("ticket"),
        scene=str(data["scene"]) if data.get("scene") is not None else None,
    )


@post("/api/users/{openid:str}/unfollow", status_code=200)
async def user_unfollow(
    openid: FromPath[str], request: Request, data: JSONBody[dict[str, Any] | None] = None
) -> dict[str, Any]:
    return await events.unfollow(_body_appid(data, request), openid, _opts(data))


@post("/api/users/{openid:str}/text", status_code=200)
async def user_text(openid: FromPath[str], request: Request, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    content = data.get("content")
    if not isinstance(content, str):
        raise ApiProblem(400, "content must be a string")
    return await events.send_text(_body_appid(data, request), openid, content, _opts(data))


@post("/api/users/{openid:str}/location", status_code=200)
async def user_location(openid: FromPath[str], request: Request, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    try:
        lat, lng = float(data["latitude"]), float(data["longitude"])
        scale = int(data.get("scale", 15))
        precision = float(data.get("precision", 30.0))
    except (KeyError, TypeError, ValueError):
        raise ApiProblem(400, "latitude and longitude are required numbers") from None
    return await events.send_location(
        _body_appid(data, request),
        openid,
        lat,
        lng,
        _opts(data),
        label=str(data.get("label") or ""),
        scale=scale,
        precision=precision,
        as_event=bool(data.get("event")),
    )


@post("/api/users/{openid:str}/click", status_code=200)
async def user_click(openid: FromPath[str], request: Request, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    key = data.get("key")
    if not isinstance(key, str) or not key:
        raise ApiProblem(400, "key is required (the menu button's key)")
    return await events.click(_body_appid(data, request), openid, key, _opts(data))


@post("/api/users/{openid:str}/view", status_code=200)
async def user_view(openid: FromPath[str], request: Request, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    url = data.get("url")
    if not isinstance(url, str) or not url:
        raise ApiProblem(400, "url is required (the menu button's url)")
    return await events.view(_body_appid(data, request), openid, url, _opts(data))


@get("/api/users/{openid:str}/messages")
async def user_messages(
    openid: FromPath[str],
    appid: FromQuery[str | None] = None,
    after: FromQuery[int] = 0,
    kind: FromQuery[str | None] = None,
    limit: FromQuery[int] = 200,
) -> list[dict[str, Any]]:
    """The user's chat, oldest first: what they sent and what the account sent them."""
    return await _messages(appid=appid, openid=openid, after=after, kind=kind, limit=limit)


async def _messages(
    *, appid: str | None, openid: str | None, after: int, kind: str | None, limit: int, direction: str | None = None
) -> list[dict[str, Any]]:
    app = await _appid(appid)
    stmt = select(OaMessage).where(OaMessage.appid == app, OaMessage.id > after)
    if openid:
        stmt = stmt.where(OaMessage.openid == openid)
    if kind:
        stmt = stmt.where(OaMessage.kind.in_(kind.split(",")))
    if direction:
        stmt = stmt.where(OaMessage.direction == direction)
    async with unit_of_work() as session:
        rows = (await session.scalars(stmt.order_by(OaMessage.id).limit(max(1, min(limit, 1000))))).all()
        return [message_json(m) for m in rows]


@get("/api/messages")
async def all_messages(
    appid: FromQuery[str | None] = None,
    openid: FromQuery[str | None] = None,
    kind: FromQuery[str | None] = None,
    direction: FromQuery[str | None] = None,
    after: FromQuery[int] = 0,
    limit: FromQuery[int] = 200,
) -> list[dict[str, Any]]:
    """Recorded messages (kind: text,location,event,reply,template,custom,mass)."""
    return await _messages(appid=appid, openid=openid, after=after, kind=kind, limit=limit, direction=direction)


@get("/api/deliveries")
async def list_deliveries(
    appid: FromQuery[str | None] = None, openid: FromQuery[str | None] = None, limit: FromQuery[int] = 50
) -> list[dict[str, Any]]:
    app = await _appid(appid)
    stmt = select(OaDelivery).where(OaDelivery.appid == app)
    if openid:
        stmt = stmt.where(OaDelivery.openid == openid)
    async with unit_of_work() as session:
        rows = (await session.scalars(stmt.order_by(OaDelivery.id.desc()).limit(max(1, min(limit, 500))))).all()
        return [events.delivery_json(d) for d in rows]


@get("/api/deliveries/{delivery_id:int}")
async def one_delivery(delivery_id: FromPath[int]) -> dict[str, Any]:
    async with unit_of_work() as session:
        d = await session.get(OaDelivery, delivery_id)
        if d is None:
            raise ApiProblem(404, f"no delivery {delivery_id}")
        return events.delivery_json(d)


# --- what the project configured --------------------------------------------------------------------------


@get("/api/menu")
async def current_menu(appid: FromQuery[str | None] = None) -> dict[str, Any]:
    app = await _appid(appid)
    async with unit_of_work() as session:
        menu = await session.get(OaMenu, app)
        return {"menu": menu.menu if menu else None, "updated_at": ts(menu.updated_at) if menu else None}


@get("/api/qrcodes")
async def list_qrcodes(appid: FromQuery[str | None] = None) -> list[dict[str, Any]]:
    app = await _appid(appid)
    async with unit_of_work() as session:
        rows = (
            await session.scalars(
                select(OaQrCode).where(OaQrCode.appid == app).order_by(OaQrCode.created_at.desc()).limit(200)
            )
        ).all()
        return [
            {
                "ticket": q.ticket,
                "action_name": q.action_name,
                "scene": q.scene_str if q.scene_str is not None else str(q.scene_id),
                "url": q.url,
                "expires_at": ts(q.expires_at),
                "scans": q.scans,
                "created_at": ts(q.created_at),
            }
            for q in rows
        ]


@get("/api/tags")
async def list_tags(appid: FromQuery[str | None] = None) -> list[dict[str, Any]]:
    app = await _appid(appid)
    async with unit_of_work() as session:
        tags = (await session.scalars(select(OaTag).where(OaTag.appid == app).order_by(OaTag.tag_id))).all()
        members = (
            await session.execute(select(OaUserTag.tag_id, OaUserTag.openid).where(OaUserTag.appid == app))
        ).all()
        return [
            {"id": t.tag_id, "name": t.name, "openids": sorted(o for tid, o in members if tid == t.tag_id)}
            for t in tags
        ]


# --- token knobs ------------------------------------------------------------------------------------------


def _kind(kind: Any) -> str:
    if kind not in CREDENTIAL_KINDS:
        raise ApiProblem(400, f"kind must be one of {', '.join(CREDENTIAL_KINDS)}")
    return str(kind)


@get("/api/tokens")
async def token_state(kind: FromQuery[str] = "access_token", owner: FromQuery[str | None] = None) -> dict[str, Any]:
    """Lifetime knob, fetch count and the credentials issued (values shortened)."""
    kind = _kind(kind)
    async with unit_of_work() as session:
        stmt = select(OaCredential).where(OaCredential.kind == kind)
        if owner:
            stmt = stmt.where(OaCredential.owner == owner)
        creds = (await session.scalars(stmt.order_by(OaCredential.id.desc()).limit(50))).all()
        return {
            "kind": kind,
            "ttl": await knob(session, kind),
            "fetches": await count_fetches(session, kind, owner),
            "issued": [
                {
                    "id": c.id,
                    "owner": c.owner,
                    "value": c.value[:8] + "…",
                    "issued_at": ts(c.issued_at),
                    "expires_at": ts(c.expires_at),
                    "revoked": c.revoked_at is not None,
                }
                for c in creds
            ],
        }


@get("/api/tokens/fetches")
async def token_fetches(
    kind: FromQuery[str] = "access_token", owner: FromQuery[str | None] = None, after: FromQuery[int] = 0
) -> dict[str, Any]:
    """Calls to the token endpoint (`issued`: a new credential was made)."""
    kind = _kind(kind)
    stmt = select(OaCredentialFetch).where(OaCredentialFetch.kind == kind, OaCredentialFetch.id > after)
    if owner:
        stmt = stmt.where(OaCredentialFetch.owner == owner)
    async with unit_of_work() as session:
        rows = (await session.scalars(stmt.order_by(OaCredentialFetch.id))).all()
        return {
            "count": len(rows),
            "issued": sum(1 for r in rows if r.issued),
            "last_id": rows[-1].id if rows else after,
            "fetches": [{"id": r.id, "owner": r.owner, "issued": r.issued, "at": ts(r.at)} for r in rows],
        }


@put("/api/tokens/ttl")
async def set_token_ttl(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Lifetime in seconds of credentials issued from now on (kind: access_token, jsapi_ticket, ...)."""
    name = data.get("kind")
    if name not in DEFAULT_KNOBS:
        raise ApiProblem(400, f"kind must be one of {', '.join(DEFAULT_KNOBS)}")
    try:
        seconds = int(data["seconds"])
    except (KeyError, TypeError, ValueError):
        raise ApiProblem(400, "seconds is required (an integer)") from None
    if not 1 <= seconds <= 86400:
        raise ApiProblem(400, "seconds must be 1 to 86400")
    async with unit_of_work() as session:
        await set_knob(session, str(name), seconds)
    return {"kind": name, "seconds": seconds}


@post("/api/tokens/expire", status_code=200)
async def expire_tokens(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Make the current credentials of a kind expire now: the next API call gets errcode 42001."""
    kind = _kind(data.get("kind", "access_token"))
    async with unit_of_work() as session:
        n = await expire_credentials(session, kind, data.get("owner"))
    return {"kind": kind, "expired": n}


@post("/api/jssdk/verify", status_code=200)
async def verify_js_config(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """What WeChat does at wx.config: is this signature right for this page and a valid jsapi_ticket?"""
    appid, signature, url = data.get("appId"), data.get("signature"), data.get("url")
    noncestr, timestamp = data.get("nonceStr"), data.get("timestamp")
    if not all((appid, signature, url, noncestr, timestamp)):
        return {"ok": False, "errMsg": "config:invalid arguments"}
    async with unit_of_work() as session:
        tickets = (
            await session.scalars(
                select(OaCredential.value).where(
                    OaCredential.kind == "jsapi_ticket",
                    OaCredential.owner == appid,
                    OaCredential.revoked_at.is_(None),
                    OaCredential.expires_at > clock.now(),
                )
            )
        ).all()
    if not tickets:
        return {"ok": False, "errMsg": "config:invalid signature (no valid jsapi_ticket for this appId)"}
    if any(check_jsapi_signature(t, str(noncestr), str(timestamp), str(url), str(signature)) for t in tickets):
        return {"ok": True, "errMsg": "config:ok"}
    return {"ok": False, "errMsg": "config:invalid signature"}


API_HANDLERS = [
    list_accounts,
    upsert_account,
    update_account,
    list_users,
    new_user,
    one_user,
    user_follow,
    user_scan,
    user_unfollow,
    user_text,
    user_location,
    user_click,
    user_view,
    user_messages,
    all_messages,
    list_deliveries,
    one_delivery,
    current_menu,
    list_qrcodes,
    list_tags,
    token_state,
    token_fetches,
    set_token_ttl,
    expire_tokens,
    verify_js_config,
]
