"""The sandbox phone page: a customer's WeChat in the browser, and the JS bridge shim H5 pages include in dev."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from litestar import Response, Router, get
from litestar.params import FromPath

from core.db import unit_of_work
from wechat.sandbox.official import EXCEPTION_HANDLERS
from wechat.sandbox.official_store import avatar_color, get_account, get_user, render

STATIC = Path(__file__).parent / "static"
STATIC_FILES = {"phone.js": "text/javascript", "phone.css": "text/css"}


@get("/phone")
async def phone_page() -> Response[str]:
    """Pick a user, follow or scan, use the menu, chat, open H5 pages (with OAuth) and pay."""
    async with unit_of_work() as session:
        account = await get_account(session, None)
        assert account is not None
        cfg: dict[str, Any] = {"appid": account.appid, "accountName": account.name, "originalId": account.original_id}
    return render("sandbox_phone.html", cfg=cfg)


@get("/phone/avatar/{openid:str}")
async def avatar(openid: FromPath[str]) -> Response[str]:
    """A generated avatar (what sns/userinfo's headimgurl points at)."""
    async with unit_of_work() as session:
        account = await get_account(session, None)
        user = await get_user(session, account.appid, openid) if account else None
        letter = (user.nickname[:1] if user else "?") or "?"
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="132" height="132" viewBox="0 0 132 132">'
        f'<rect width="132" height="132" rx="12" fill="{avatar_color(openid)}"/>'
        '<text x="66" y="84" font-size="60" text-anchor="middle" fill="#fff" '
        f'font-family="sans-serif">{escape(letter)}</text></svg>'
    )
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "max-age=600"})


def _static(name: str, media_type: str) -> Response[bytes]:
    return Response(
        (STATIC / name).read_bytes(),
        media_type=f"{media_type}; charset=utf-8",
        headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"},
    )


@get("/static/jsbridge.js")
async def jsbridge() -> Response[bytes]:
    """`<script src="…/sandbox/static/jsbridge.js">`: WeixinJSBridge (pay sheet) and a minimal `wx` for dev."""
    return _static("jsbridge.js", "text/javascript")


@get("/static/phone/{name:str}")
async def phone_asset(name: FromPath[str]) -> Response[bytes]:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        return Response(b"not found", status_code=404, media_type="text/plain")
    return _static(name, media_type)


def phone_router() -> Router:
    """`/phone`, `/phone/avatar/{openid}`, `/static/jsbridge.js`, `/static/phone/*`."""
    return Router(
        path="/",
        route_handlers=[phone_page, avatar, jsbridge, phone_asset],
        exception_handlers=EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
