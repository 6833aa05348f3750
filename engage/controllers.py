"""Engage's HTTP routes: the official-account message endpoint (fixed paths), the domain-verification
files at the web root, and the admin/staff API (engage.admin_controllers)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from core.db import DbSession
from engage.accounts import resolve_account
from engage.admin_controllers import ADMIN_ROUTES
from engage.handle_message import Outcome, handle_message, verify_server
from engage.verify_files import verify_file_content

# A little over our own 64 KB limit: larger bodies are cut off by Litestar before they are read.
_BODY_LIMIT = 256 * 1024


def _respond(outcome: Outcome) -> Response[str]:
    return Response(outcome.body, status_code=outcome.status, media_type=outcome.media_type)


def _remote(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


async def _verify(request: Request[Any, Any, Any], db_session: Any, appid: str | None) -> Response[str]:
    account = await resolve_account(db_session, appid)
    return _respond(verify_server(account, dict(request.query_params), _remote(request)))


@get("/wechat/message", summary="WeChat server verification (default account)", tags=["wechat"])
async def verify_default(request: Request[Any, Any, Any], db_session: DbSession) -> Response[str]:
    return await _verify(request, db_session, None)


@get("/wechat/message/{appid:str}", summary="WeChat server verification (an account by appid)", tags=["wechat"])
async def verify_account(request: Request[Any, Any, Any], db_session: DbSession, appid: FromPath[str]) -> Response[str]:
    return await _verify(request, db_session, appid)


@post(
    "/wechat/message",
    summary="Messages and events from WeChat (default account; plain and safe mode)",
    tags=["wechat"],
    status_code=200,
    request_max_body_size=_BODY_LIMIT,
)
async def message_default(request: Request[Any, Any, Any]) -> Response[str]:
    body = await request.body()
    return _respond(await handle_message(None, dict(request.query_params), body, remote=_remote(request)))


@post(
    "/wechat/message/{appid:str}",
    summary="Messages and events from WeChat for one account of the matrix",
    tags=["wechat"],
    status_code=200,
    request_max_body_size=_BODY_LIMIT,
)
async def message_account(request: Request[Any, Any, Any], appid: FromPath[str]) -> Response[str]:
    body = await request.body()
    return _respond(await handle_message(appid, dict(request.query_params), body, remote=_remote(request)))


@get("/{filename:str}", summary="MP_verify_*.txt domain verification for WeChat", include_in_schema=False)
async def verify_file(db_session: DbSession, filename: FromPath[str]) -> Response[str]:
    content = await verify_file_content(db_session, filename)
    return Response(content, media_type="text/plain; charset=utf-8")


ROUTES = [verify_default, verify_account, message_default, message_account, verify_file, *ADMIN_ROUTES]
