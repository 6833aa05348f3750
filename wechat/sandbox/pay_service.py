"""Sandbox Pay behaviour: what WeChat does with orders, payments, closes and refunds (rules, states, codes)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.settings import get_settings
from wechat.pay_types import parse_time
from wechat.sandbox.pay_common import (
    PayApiError,
    new_code_url,
    new_openid,
    new_prepay_id,
    new_transaction_id,
    param_error,
    rfc3339,
)
from wechat.sandbox.pay_models import PayOrder
from wechat.sandbox.pay_notify import enqueue_notify

PREPAY_VALIDITY = timedelta(hours=2)
_OUT_NO = re.compile(r"^[A-Za-z0-9_\-|*@]{6,32}$")
TRADE_STATE_DESC = {
    "NOTPAY": "订单未支付",
    "SUCCESS": "支付成功",
    "REFUND": "转入退款",
    "CLOSED": "已关闭",
    "PAYERROR": "支付失败，请重新下单支付",
    "USERPAYING": "用户支付中（输入密码中）",
}
PAY_OUTCOMES = ("SUCCESS", "PAYERROR", "USERPAYING")


# --- input checks (WeChat answers 400 PARAM_ERROR naming the field) -------------------------------


def require_str(body: dict[str, Any], key: str, max_len: int, *, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise param_error(f"输入源“/body/{key}”映射到值字段“{key}”必填性规则校验失败，此字段为必填项")
        return None
    if not isinstance(value, str):
        raise param_error(f"/body/{key} must be a string")
    if len(value) > max_len:
        raise param_error(f"/body/{key} is longer than {max_len} characters")
    return value


def require_amounts(body: dict[str, Any], *keys: str) -> dict[str, int]:
    amount = body.get("amount")
    if not isinstance(amount, dict):
        raise param_error("/body/amount is required")
    out = {}
    for key in keys:
        value = amount.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise param_error(f"/body/amount/{key} must be a positive integer (fen)")
        out[key] = value
    if amount.get("currency", "CNY") != "CNY":
        raise param_error("/body/amount/currency only CNY is supported")
    return out


def check_notify_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not re.match(r"^https?://[^\s?#]+$", value):
        raise param_error("notify_url must be an absolute http(s) URL without query parameters")
    return value


def _check_merchant(mchid: str, appid: str | None, auth_mchid: str) -> None:
    s = get_settings()
    if mchid != auth_mchid:
        raise param_error("mchid in the body is not the merchant that signed the request")
    if mchid != s.wechatpay_mchid:
        raise PayApiError(400, "MCH_NOT_EXISTS", "商户号不存在")
    if appid is not None and appid != s.wechat_appid:
        raise PayApiError(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")


# --- orders ---------------------------------------------------------------------------------------


async def create_order(session: AsyncSession, trade_type: str, body: dict[str, Any], auth_mchid: str) -> PayOrder:
    """JSAPI/Native order. Same out_trade_no with the same content is idempotent; different content is refused."""
    appid = require_str(body, "appid", 32)
    mchid = require_str(body, "mchid", 32)
    assert appid is not None and mchid is not None
    _check_merchant(mchid, appid, auth_mchid)
    description = require_str(body, "description", 127)
    out_trade_no = require_str(body, "out_trade_no", 32)
    assert description is not None and out_trade_no is not None
    if not _OUT_NO.match(out_trade_no):
        raise param_error("out_trade_no must be 6-32 characters of letters, digits, _-|*@")
    notify_url = check_notify_url(require_str(body, "notify_url", 256))
    attach = require_str(body, "attach", 128, required=False)
    total = require_amounts(body, "total")["total"]
    openid = None
    if trade_type == "JSAPI":
        payer = body.get("payer")
        if not isinstance(payer, dict) or not payer.get("openid"):
            raise param_error("/body/payer/openid is required for JSAPI")
        openid = str(payer["openid"])[:128]
    now = clock.now()
    time_expire = None
    if body.get("time_expire") is not None:
        time_expire = parse_time(body["time_expire"])
        if time_expire is None or time_expire.tzinfo is None:
            raise param_error("time_expire must be RFC 3339, e.g. 2018-06-08T10:34:56+08:00")
        if time_expire <= now:
            raise PayApiError(400, "INVALID_REQUEST", "time_expire 已过期")
    values = {
        "mchid": mchid,
        "appid": appid,
        "out_trade_no": out_trade_no,
        "trade_type": trade_type,
        "prepay_id": new_prepay_id(now),
        "code_url": new_code_url() if trade_type == "NATIVE" else None,
        "description": description,
        "attach": attach,
        "notify_url": notify_url,
        "total_fen": total,
        "currency": "CNY",
        "payer_openid": openid,
        "trade_state": "NOTPAY",
        "trade_state_desc": TRADE_STATE_DESC["NOTPAY"],
        "time_expire": time_expire,
        "request": body,
        "created_at": now,
        "updated_at": now,
    }
    # ON CONFLICT keeps two identical concurrent requests from failing: the loser reads the winner's row.
    new_id = await session.scalar(
        insert(PayOrder)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["mchid", "out_trade_no"])
        .returning(PayOrder.id)
    )
    order = await session.scalar(
        select(PayOrder).where(PayOrder.mchid == mchid, PayOrder.out_trade_no == out_trade_no).with_for_update()
    )
    assert order is not None
    if new_id is not None:
        return order
    if order.trade_state in ("SUCCESS", "REFUND"):
        raise PayApiError(400, "ORDERPAID", "该订单已支付")
    if order.trade_state == "CLOSED":
        raise PayApiError(400, "ORDER_CLOSED", "订单已关闭")
    if (order.trade_type, order.total_fen, order.description, order.payer_openid) != (
        trade_type,
        total,
        description,
        openid,
    ):
        raise PayApiError(400, "INVALID_REQUEST", "201 商户订单号重复")
    return order


def order_deadline(order: PayOrder) -> datetime:
    return order.time_expire or order.created_at + PREPAY_VALIDITY


async def find_order(
    session: AsyncSession,
    *,
    mchid: str | None = None,
    out_trade_no: str | None = None,
    transaction_id: str | None = None,
    prepay_id: str | None = None,
    code_url: str | None = None,
    lock: bool = False,
) -> PayOrder | None:
    query = select(PayOrder)
    if mchid is not None:
        query = query.where(PayOrder.mchid == mchid)
    if out_trade_no is not None:
        query = query.where(PayOrder.out_trade_no == out_trade_no)
    elif transaction_id is not None:
        query = query.where(PayOrder.transaction_id == transaction_id)
    elif prepay_id is not None:
        query = query.where(PayOrder.prepay_id == prepay_id)
    elif code_url is not None:
        query = query.where(PayOrder.code_url == code_url)
    else:
        raise param_error("name the order: prepay_id, out_trade_no, transaction_id or code_url")
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


def transaction_json(order: PayOrder) -> dict[str, Any]:
    """The query answer (and the decrypted TRANSACTION.SUCCESS resource) as WeChat shapes it."""
    paid = order.trade_state in ("SUCCESS", "REFUND")
    data: dict[str, Any] = {
        "appid": order.appid,
        "mchid": order.mchid,
        "out_trade_no": order.out_trade_no,
        "trade_state": order.trade_state,
        "trade_state_desc": order.trade_state_desc,
        "attach": order.attach or "",
        "amount": {"total": order.total_fen, "currency": order.currency, "payer_currency": order.currency},
        "promotion_detail": [],
    }
    if order.trade_type:
        data["trade_type"] = order.trade_type
    if order.payer_openid and (paid or order.trade_type == "JSAPI"):
        data["payer"] = {"openid": order.payer_openid}
    if paid:
        data["amount"]["payer_total"] = order.total_fen
        data["transaction_id"] = order.transaction_id
        data["bank_type"] = order.bank_type or "OTHERS"
        data["success_time"] = rfc3339(order.success_time or clock.now())
    return data


async def pay_order(
    session: AsyncSession,
    *,
    prepay_id: str | None = None,
    out_trade_no: str | None = None,
    code_url: str | None = None,
    openid: str | None = None,
    outcome: str = "SUCCESS",
    bank_type: str | None = None,
) -> PayOrder:
    """The simulated user pays (or fails to). SUCCESS writes the TRANSACTION.SUCCESS notify in the same transaction."""
    if outcome not in PAY_OUTCOMES:
        raise param_error(f"outcome must be one of {', '.join(PAY_OUTCOMES)}")
    order = await find_order(
        session,
        mchid=get_settings().wechatpay_mchid if out_trade_no else None,
        out_trade_no=out_trade_no,
        prepay_id=prepay_id,
        code_url=code_url,
        lock=True,
    )
    if order is None:
        raise PayApiError(404, "ORDER_NOT_EXIST", "订单不存在")
    if order.trade_state in ("SUCCESS", "REFUND"):
        raise PayApiError(409, "ORDERPAID", "该订单已支付")
    if order.trade_state == "CLOSED":
        raise PayApiError(409, "ORDER_CLOSED", "订单已关闭")
    now = clock.now()
    if now > order_deadline(order):
        raise PayApiError(409, "ORDER_EXPIRED", "订单已过期，请重新下单")
    if order.trade_type == "JSAPI" and openid and openid != order.payer_openid:
        raise PayApiError(403, "OPENID_MISMATCH", "支付用户与下单用户不一致")
    order.trade_state = outcome
    order.trade_state_desc = TRADE_STATE_DESC[outcome]
    order.updated_at = now
    if outcome != "SUCCESS":
        return order
    order.transaction_id = new_transaction_id(now)
    order.success_time = now
    order.bank_type = bank_type or "OTHERS"
    order.payer_openid = order.payer_openid or openid or new_openid()
    await enqueue_notify(
        session,
        event_type="TRANSACTION.SUCCESS",
        original_type="transaction",
        resource_plain=transaction_json(order),
        notify_url=order.notify_url,
        out_trade_no=order.out_trade_no,
    )
    return order


async def query_order(
    session: AsyncSession, mchid: str, *, out_trade_no: str | None = None, transaction_id: str | None = None
) -> dict[str, Any]:
    order = await find_order(session, mchid=mchid, out_trade_no=out_trade_no, transaction_id=transaction_id)
    if order is None:
        raise PayApiError(404, "ORDER_NOT_EXIST", "订单不存在")
    return transaction_json(order)


async def close_order(session: AsyncSession, mchid: str, out_trade_no: str) -> None:
    order = await find_order(session, mchid=mchid, out_trade_no=out_trade_no, lock=True)
    if order is None:
        raise PayApiError(404, "ORDER_NOT_EXIST", "订单不存在")
    if order.trade_state in ("SUCCESS", "REFUND"):
        raise PayApiError(400, "ORDERPAID", "订单已支付，不能关闭")
    if order.trade_state != "CLOSED":
        now = clock.now()
        order.trade_state = "CLOSED"
        order.trade_state_desc = TRADE_STATE_DESC["CLOSED"]
        order.closed_at = now
        order.updated_at = now
