"""Sandbox web-page OAuth: the authorize page (pick or create a simulated user), code exchange, user info."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from litestar import Request, Response, Router, get, post
from litestar.datastructures import Cookie
from litestar.params import JSONBody
from sqlalchemy import select, update

from core import clock
from core.db import unit_of_work
from wechat.sandbox.official import EXCEPTION_HANDLERS
from wechat.sandbox.official_models import OaUser, OauthCode
from wechat.sandbox.official_store import (
    ApiProblem,
    SandboxError,
    avatar_color,
    check_credential,
    create_user,
    expires_in,
    get_account,
    get_user,
    issue_credential,
    knob,
    mount_prefix,
    random_string,
    render,
    wechat_json,
)

SCOPES = ("snsapi_base", "snsapi_userinfo")
USER_COOKIE = "sandbox_openid"  # which simulated user "is signed in to WeChat" in this browser


def _redirect_target(redirect_uri: str, code: str, state: str) -> str:
    sep = "&" if urlsplit(redirect_uri).query else "?"
    return f"{redirect_uri}{sep}{urlencode({'code': code, 'state': state})}"


def _error_page(errcode: int, message: str) -> Response[str]:
    return render("sandbox_oauth_error.html", errcode=errcode, message=message, status_code=400)


async def issue_code(appid: str, openid: str, scope: str, redirect_uri: str, state: str) -> tuple[str, int]:
    async with unit_of_work() as session:
        ttl = await knob(session, "oauth_code")
        now = clock.now()
        code = random_string(32)
        session.add(
            OauthCode(
                code=code,
                appid=appid,
                openid=openid,
                scope=scope,
                redirect_uri=redirect_uri,
                state=state,
                issued_at=now,
                expires_at=now + timedelta(seconds=ttl),
            )
        )
        return code, ttl


@get("/connect/oauth2/authorize")
async def authorize(request: Request) -> Response[Any]:
    """WeChat's authorize step. Silent for a browser where a simulated user is signed in (the phone page
    sets the cookie); otherwise a page to pick or create one. `#wechat_redirect` never reaches a server.
    """
    q = request.query_params
    appid, redirect_uri = q.get("appid", ""), q.get("redirect_uri", "")
    scope, state = q.get("scope", ""), q.get("state", "")
    async with unit_of_work() as session:
        account = await get_account(session, appid) if appid else None
        if account is None:
            return _error_page(10002, "appid 参数错误 (unknown appid)")
        if q.get("response_type") != "code":
            return _error_page(10002, "response_type 必须为 code")
        if scope not in SCOPES:
            return _error_page(10005, "此公众号并没有这些 scope 的权限 (scope must be snsapi_base or snsapi_userinfo)")
        if not redirect_uri.startswith(("http://", "https://")):
            return _error_page(10003, "redirect_uri 参数错误 (must be an absolute http(s) URL)")
        if len(state.encode()) > 128 or not all(c.isalnum() or c in "-_" for c in state):
            return _error_page(10002, "state 参数错误 (a-zA-Z0-9, at most 128 bytes)")
        user: OaUser | None = None
        if q.get("sandbox_new") is not None:
            user = await create_user(session, account.appid, nickname=q.get("sandbox_new") or None)
        elif q.get("sandbox_openid"):
            user = await get_user(session, account.appid, q["sandbox_openid"])
        elif not q.get("sandbox_pick") and request.cookies.get(USER_COOKIE):
            user = await get_user(session, account.appid, request.cookies[USER_COOKIE])
        if user is None:
            users = (
                await session.scalars(select(OaUser).where(OaUser.appid == account.appid).order_by(OaUser.id))
            ).all()
            params = {k: v for k, v in q.items() if not k.startswith("sandbox_")}
            return render(
                "sandbox_authorize.html",
                account=account,
                scope=scope,
                host=urlsplit(redirect_uri).netloc,
                users=[
                    {
                        "openid": u.openid,
                        "nickname": u.nickname,
                        "color": avatar_color(u.openid),
                        "following": u.following,
                    }
                    for u in users
                ],
                base_query=urlencode(params),
                hidden=list(params.items()),
            )
        openid = user.openid
    code, _ = await issue_code(account.appid, openid, scope, redirect_uri, state)
    return Response(
        b"",
        status_code=302,
        headers={"Location": _redirect_target(redirect_uri, code, state)},
        cookies=[Cookie(key=USER_COOKIE, value=openid, path="/", samesite="lax", httponly=False)],
    )


async def _check_app_secret(session: Any, appid: str | None, secret: str | None) -> str:
    account = await get_account(session, appid) if appid else None
    if account is None:
        raise SandboxError(40013, "invalid appid")
    if not secret or not secrets.compare_digest(secret, account.secret):
        raise SandboxError(40125, "invalid appsecret")
    return account.appid


@get("/sns/oauth2/access_token")
async def exchange_code(request: Request) -> Response[bytes]:
    q = request.query_params
    if q.get("grant_type") != "authorization_code":
        raise SandboxError(40002, "invalid grant_type")
    code = q.get("code")
    if not code:
        raise SandboxError(41008, "missing code")
    async with unit_of_work() as session:
        appid = await _check_app_secret(session, q.get("appid"), q.get("secret"))
        now = clock.now()
        # Single use, atomically: of two concurrent exchanges exactly one gets the row.
        row = (
            await session.execute(
                update(OauthCode)
                .where(
                    OauthCode.code == code,
                    OauthCode.appid == appid,
                    OauthCode.used_at.is_(None),
                    OauthCode.expires_at > now,
                )
                .values(used_at=now)
                .returning(OauthCode.openid, OauthCode.scope)
            )
        ).first()
        if row is None:
            existing = await session.get(OauthCode, code)
            if existing is not None and existing.appid == appid and existing.used_at is not None:
                raise SandboxError(40163, "code been used")
            raise SandboxError(40029, "invalid code")
        openid, scope = row
        cred, _ = await issue_credential(session, "sns_token", appid, reuse=False, openid=openid, scope=scope)
        user = await get_user(session, appid, openid)
        out: dict[str, Any] = {
            "access_token": cred.value,
            "expires_in": expires_in(cred),
            "refresh_token": random_string(89),
            "openid": openid,
            "scope": scope,
            "is_snapshotuser": 0,
        }
        if user is not None and user.unionid:
            out["unionid"] = user.unionid
        return wechat_json(out)


@get("/sns/userinfo")
async def userinfo(request: Request) -> Response[bytes]:
    q = request.query_params
    async with unit_of_work() as session:
        cred = await check_credential(session, "sns_token", q.get("access_token"))
        if q.get("openid") != cred.openid:
            raise SandboxError(40003, "invalid openid")
        if cred.scope != "snsapi_userinfo":
            raise SandboxError(48001, "api unauthorized")
        user = await get_user(session, cred.owner, cred.openid or "")
        if user is None:
            raise SandboxError(40003, "invalid openid")
        prefix = mount_prefix(request, "/sns/userinfo")
        return wechat_json(
            {
                "openid": user.openid,
                "nickname": user.nickname,
                "sex": user.sex,
                "province": "",
                "city": user.city,
                "country": "中国",
                "headimgurl": f"{prefix}/phone/avatar/{user.openid}",
                "privilege": [],
                "unionid": user.unionid,
            }
        )


@get("/sns/auth")
async def check_user_token(request: Request) -> Response[bytes]:
    q = request.query_params
    async with unit_of_work() as session:
        cred = await check_credential(session, "sns_token", q.get("access_token"))
        if q.get("openid") != cred.openid:
            raise SandboxError(40003, "invalid openid")
        return wechat_json({"errcode": 0, "errmsg": "ok"})


@post("/api/oauth/code", status_code=200)
async def api_code(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Issue a code for a user without the browser round trip (tests)."""
    openid = data.get("openid")
    scope = data.get("scope", "snsapi_base")
    if not isinstance(openid, str) or scope not in SCOPES:
        raise ApiProblem(400, "openid is required; scope is snsapi_base or snsapi_userinfo")
    async with unit_of_work() as session:
        account = await get_account(session, data.get("appid"))
        if account is None or await get_user(session, account.appid, openid) is None:
            raise ApiProblem(404, "no such account or simulated user")
        appid = account.appid
    code, ttl = await issue_code(
        appid, openid, scope, str(data.get("redirect_uri") or ""), str(data.get("state") or "")
    )
    return {"code": code, "expires_in": ttl}


def oauth_router() -> Router:
    """`/connect/oauth2/authorize` (open.weixin.qq.com), `/sns/...` (api.weixin.qq.com), `/api/oauth/code`."""
    return Router(
        path="/",
        route_handlers=[authorize, exchange_code, userinfo, check_user_token, api_code],
        exception_handlers=EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
