"""Sandbox Pay HTTP: WeChat Pay v3 endpoints on WeChat's paths, merchant signature checked in, platform-signed out."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import structlog
from litestar import Request, Response, Router, get, post
from litestar.params import FromPath

from core.db import unit_of_work
from core.settings import get_settings
from wechat.pay_crypto import Authorization, SignatureError, verify_request
from wechat.sandbox import bills, pay_faults, pay_refunds, pay_service
from wechat.sandbox.keys import sandbox_keys
from wechat.sandbox.pay_common import PayApiError, get_config, param_error
from wechat.sandbox.pay_loop import wake_notify_loop
from wechat.sandbox.pay_notify import forge

log = structlog.get_logger(__name__)

_PARAM = re.compile(r"\{(\w+):[^}]*\}")

Work = Callable[[Authorization, bytes], Awaitable[tuple[int, Any, str | None]]]


# --- where am I mounted ----------------------------------------------------------------------------


def mount_prefix(request: Request[Any, Any, Any]) -> str:
    """The path this router hangs under (`/sandbox` in the dev app, empty standalone), from the matched route."""
    template = str(request.scope.get("path_template") or "")
    own = _PARAM.sub(r"{\1}", next(iter(request.route_handler.paths)))
    if own not in ("", "/") and template.endswith(own):
        return template[: -len(own)].rstrip("/")
    return ""


def signed_path(request: Request[Any, Any, Any]) -> str:
    """The path (with query) the merchant signed: as sent on the wire, relative to this router's mount point."""
    raw = bytes(request.scope.get("raw_path") or request.scope["path"].encode()).decode("latin-1")
    raw = raw.split("?", 1)[0]  # some servers put the query in raw_path, the ASGI spec does not
    root = str(request.scope.get("root_path") or "")
    if root and raw.startswith(root + "/"):
        raw = raw[len(root) :]
    prefix = mount_prefix(request)
    if prefix and raw.startswith(prefix + "/"):
        raw = raw[len(prefix) :]
    query = bytes(request.scope.get("query_string") or b"").decode("latin-1")
    return f"{raw}?{query}" if query else raw


def sandbox_base_url(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url).rstrip("/") + mount_prefix(request)


# --- in and out --------------------------------------------------------------------------------------


def _authenticate(request: Request[Any, Any, Any], raw: bytes) -> Authorization:
    keys = sandbox_keys()
    try:
        return verify_request(
            request.method,
            signed_path(request),
            raw,
            request.headers.get("authorization"),
            merchant_keys={keys.merchant_serial: keys.merchant_public},
            mchid=get_settings().wechatpay_mchid,
        )
    except SignatureError as exc:
        log.info("sandbox_pay_sign_error", path=request.url.path, reason=exc.reason)
        raise PayApiError(401, "SIGN_ERROR", f"签名错误，请检查后再试 ({exc.reason}: {exc})") from None


def _json_body(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise param_error("请求体不是合法的JSON对象")
    return data


def _dump(data: Any) -> bytes:
    return b"" if data is None else json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _tampered(body: bytes) -> bytes:
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return body + b" "
    if isinstance(data, dict) and isinstance(data.get("amount"), dict) and isinstance(data["amount"].get("total"), int):
        data["amount"]["total"] += 1
    elif isinstance(data, dict):
        data["trade_state"] = "SUCCESS"
    return _dump(data)


async def signed_answer(
    status: int,
    data: Any,
    *,
    out_trade_no: str | None = None,
    media_type: str = "application/json",
    raw: bytes | None = None,
) -> Response[bytes]:
    """Every answer is signed with the platform key; a `response` fault knob may break it on purpose."""
    async with unit_of_work() as session:
        consumed = await pay_faults.consume(session, "response", out_trade_no=out_trade_no)
    faults = consumed.faults
    if "delay" in faults:
        await asyncio.sleep(float(faults["delay"]["seconds"]))
    if "error" in faults:
        err = faults["error"]
        status, data, raw, media_type = (
            err["status"],
            {"code": err["code"], "message": err["message"]},
            None,
            "application/json",
        )
    body = raw if raw is not None else _dump(data)
    fault = next((k for k in pay_faults.SIGNATURE_FAULTS if k in faults), None)
    content, headers = forge(fault, body, sandbox_keys(), faults, _tampered(body) if fault == "tamper" else body)
    return Response(content=content, status_code=status, headers=headers, media_type=media_type)


async def _handle(request: Request[Any, Any, Any], work: Work) -> Response[bytes]:
    raw = await request.body()
    try:
        auth = _authenticate(request, raw)
        status, data, ref = await work(auth, raw)
    except PayApiError as exc:
        return await signed_answer(exc.status_code, exc.body())
    return await signed_answer(status, data, out_trade_no=ref)


def _mchid_param(request: Request[Any, Any, Any], auth: Authorization) -> str:
    mchid = request.query_params.get("mchid")
    if not mchid:
        raise param_error("输入源“/query/mchid”映射到值字段“mchid”必填性规则校验失败，此字段为必填项")
    if mchid != auth.mchid:
        raise param_error("mchid is not the merchant that signed the request")
    return mchid


# --- WeChat Pay v3 endpoints ----------------------------------------------------------------------


async def _create(trade_type: str, auth: Authorization, raw: bytes) -> tuple[int, Any, str | None]:
    body = _json_body(raw)
    async with unit_of_work() as session:
        order = await pay_service.create_order(session, trade_type, body, auth.mchid)
        answer = {"prepay_id": order.prepay_id} if trade_type == "JSAPI" else {"code_url": order.code_url}
    log.info("sandbox_pay_order", trade_type=trade_type, out_trade_no=order.out_trade_no, total_fen=order.total_fen)
    return 200, answer, order.out_trade_no


@post("/v3/pay/transactions/jsapi", include_in_schema=False)
async def jsapi_order(request: Request[Any, Any, Any]) -> Response[bytes]:
    return await _handle(request, lambda auth, raw: _create("JSAPI", auth, raw))


@post("/v3/pay/transactions/native", include_in_schema=False)
async def native_order(request: Request[Any, Any, Any]) -> Response[bytes]:
    return await _handle(request, lambda auth, raw: _create("NATIVE", auth, raw))


@get("/v3/pay/transactions/out-trade-no/{out_trade_no:str}", include_in_schema=False)
async def query_by_out_trade_no(request: Request[Any, Any, Any], out_trade_no: FromPath[str]) -> Response[bytes]:
    async def work(auth: Authorization, raw: bytes) -> tuple[int, Any, str | None]:
        mchid = _mchid_param(request, auth)
        async with unit_of_work() as session:
            return 200, await pay_service.query_order(session, mchid, out_trade_no=out_trade_no), out_trade_no

    return await _handle(request, work)


@get("/v3/pay/transactions/id/{transaction_id:str}", include_in_schema=False)
async def query_by_transaction_id(request: Request[Any, Any, Any], transaction_id: FromPath[str]) -> Response[bytes]:
    async def work(auth: Authorization, raw: bytes) -> tuple[int, Any, str | None]:
        mchid = _mchid_param(request, auth)
        async with unit_of_work() as session:
            data = await pay_service.query_order(session, mchid, transaction_id=transaction_id)
        return 200, data, data["out_trade_no"]

    return await _handle(request, work)


@post("/v3/pay/transactions/out-trade-no/{out_trade_no:str}/close", include_in_schema=False)
async def close_order(request: Request[Any, Any, Any], out_trade_no: FromPath[str]) -> Response[bytes]:
    async def work(auth: Authorization, raw: bytes) -> tuple[int, Any, str | None]:
        body = _json_body(raw)
        if body.get("mchid") != auth.mchid:
            raise param_error("/body/mchid must be the merchant that signed the request")
        async with unit_of_work() as session:
            await pay_service.close_order(session, auth.mchid, out_trade_no)
        return 204, None, out_trade_no

    return await _handle(request, work)


@post("/v3/refund/domestic/refunds", include_in_schema=False)
async def create_refund(request: Request[Any, Any, Any]) -> Response[bytes]:
    async def work(auth: Authorization, raw: bytes) -> tuple[int, Any, str | None]:
        async with unit_of_work() as session:
            refund = await pay_refunds.create_refund(session, _json_body(raw), auth.mchid)
            data = pay_refunds.refund_json(refund)
        wake_notify_loop()  # the loop settles it when refund_delay_seconds has passed
        return 200, data, refund.out_trade_no

    return await _handle(request, work)


@get("/v3/refund/domestic/refunds/{out_refund_no:str}", include_in_schema=False)
async def query_refund(request: Request[Any, Any, Any], out_refund_no: FromPath[str]) -> Response[bytes]:
    async def work(auth: Authorization, raw: bytes) -> tuple[int, Any, str | None]:
        async with unit_of_work() as session:
            data = await pay_refunds.query_refund(session, auth.mchid, out_refund_no)
        return 200, data, data["out_trade_no"]

    return await _handle(request, work)


def parse_bill_date(value: str | None) -> date:
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        raise param_error("bill_date must be YYYY-MM-DD") from None


@get("/v3/bill/tradebill", include_in_schema=False)
async def trade_bill(request: Request[Any, Any, Any]) -> Response[bytes]:
    async def work(auth: Authorization, raw: bytes) -> tuple[int, Any, str | None]:
        day = parse_bill_date(request.query_params.get("bill_date"))
        async with unit_of_work() as session:
            config = await get_config(session)
            bills.check_bill_available(day, allow_today=bool(config["bill_today"]) and get_settings().is_dev)
            data = await bills.issue_bill_download(
                session,
                mchid=auth.mchid,
                day=day,
                bill_type=request.query_params.get("bill_type") or "ALL",
                tar_type=request.query_params.get("tar_type") or None,
                base_url=sandbox_base_url(request),
            )
        return 200, data, None

    return await _handle(request, work)


@get("/v3/billdownload/file", include_in_schema=False)
async def download_bill(request: Request[Any, Any, Any]) -> Response[bytes]:
    raw = await request.body()
    try:
        auth = _authenticate(request, raw)
        async with unit_of_work() as session:
            bill = await bills.read_bill_file(session, auth.mchid, request.query_params.get("token") or "")
    except PayApiError as exc:
        return await signed_answer(exc.status_code, exc.body())
    media = "application/octet-stream" if bill.tar_type == "GZIP" else "text/plain; charset=utf-8"
    return await signed_answer(200, None, raw=bill.content, media_type=media)


V3_HANDLERS = [
    jsapi_order,
    native_order,
    query_by_out_trade_no,
    query_by_transaction_id,
    close_order,
    create_refund,
    query_refund,
    trade_bill,
    download_bill,
]


def _api_error(_: Request[Any, Any, Any], exc: PayApiError) -> Response[dict[str, Any]]:
    return Response(exc.body(), status_code=exc.status_code)


def pay_router(path: str = "/") -> Router:
    """The Pay sandbox: WeChat's v3 paths plus its own test API under `/api/pay`. Mount anywhere.

    Signatures are checked over the path relative to wherever this router ends up (found from the
    matched route), so `pay_router("/sandbox")`, nesting it in another router, or `pay_router()` at
    the root of a standalone app all behave alike.
    """
    from wechat.sandbox.pay_api import API_HANDLERS

    return Router(
        path=path,
        route_handlers=[*V3_HANDLERS, *API_HANDLERS],
        exception_handlers={PayApiError: _api_error},
        tags=["sandbox: WeChat Pay"],
    )
