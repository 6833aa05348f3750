"""Sandbox Pay refunds: WeChat's refund rules, PROCESSING → SUCCESS/ABNORMAL/CLOSED, and REFUND.* notifies."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from wechat.sandbox import pay_faults
from wechat.sandbox.pay_common import PayApiError, get_config, new_refund_id, param_error, rfc3339
from wechat.sandbox.pay_models import PayRefund
from wechat.sandbox.pay_notify import enqueue_notify
from wechat.sandbox.pay_service import TRADE_STATE_DESC, check_notify_url, find_order, require_amounts, require_str

_OUT_REFUND_NO = re.compile(r"^[A-Za-z0-9_\-|*@]{1,64}$")


def refund_json(refund: PayRefund) -> dict[str, Any]:
    data: dict[str, Any] = {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": refund.transaction_id,
        "out_trade_no": refund.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": refund.user_received_account,
        "create_time": rfc3339(refund.created_at),
        "status": refund.status,
        "funds_account": "AVAILABLE",
        "amount": {
            "total": refund.total_fen,
            "refund": refund.refund_fen,
            "payer_total": refund.total_fen,
            "payer_refund": refund.refund_fen,
            "settlement_total": refund.total_fen,
            "settlement_refund": refund.refund_fen,
            "discount_refund": 0,
            "refund_fee": 0,
            "currency": refund.currency,
            "from": [],
        },
        "promotion_detail": [],
    }
    if refund.success_time is not None:
        data["success_time"] = rfc3339(refund.success_time)
    return data


def refund_notify_json(refund: PayRefund) -> dict[str, Any]:
    data: dict[str, Any] = {
        "mchid": refund.mchid,
        "out_trade_no": refund.out_trade_no,
        "transaction_id": refund.transaction_id,
        "out_refund_no": refund.out_refund_no,
        "refund_id": refund.refund_id,
        "refund_status": refund.status,
        "user_received_account": refund.user_received_account,
        "amount": {
            "total": refund.total_fen,
            "refund": refund.refund_fen,
            "payer_total": refund.total_fen,
            "payer_refund": refund.refund_fen,
        },
    }
    if refund.success_time is not None:
        data["success_time"] = rfc3339(refund.success_time)
    return data


async def create_refund(session: AsyncSession, body: dict[str, Any], auth_mchid: str) -> PayRefund:
    """Refund request: PROCESSING now, settled by the notify loop. Idempotent by out_refund_no."""
    out_refund_no = require_str(body, "out_refund_no", 64)
    assert out_refund_no is not None
    if not _OUT_REFUND_NO.match(out_refund_no):
        raise param_error("out_refund_no must be 1-64 characters of letters, digits, _-|*@")
    out_trade_no = require_str(body, "out_trade_no", 32, required=False)
    transaction_id = require_str(body, "transaction_id", 32, required=False)
    if not (out_trade_no or transaction_id):
        raise param_error("transaction_id or out_trade_no is required")
    amounts = require_amounts(body, "refund", "total")
    reason = require_str(body, "reason", 80, required=False)
    notify_url = check_notify_url(require_str(body, "notify_url", 256, required=False))
    # The order row lock serializes refunds of one order, so the refundable balance is checked once.
    order = await find_order(
        session, mchid=auth_mchid, out_trade_no=out_trade_no, transaction_id=transaction_id, lock=True
    )
    if order is None:
        raise PayApiError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
    existing = await session.scalar(
        select(PayRefund).where(PayRefund.mchid == auth_mchid, PayRefund.out_refund_no == out_refund_no)
    )
    if existing is not None:
        if existing.order_id == order.id and existing.refund_fen == amounts["refund"]:
            return existing
        raise PayApiError(400, "INVALID_REQUEST", "商户退款单号已被使用，且参数与原请求不一致")
    if order.trade_state not in ("SUCCESS", "REFUND"):
        raise PayApiError(400, "INVALID_REQUEST", "订单未支付或已关闭，不能退款")
    if amounts["total"] != order.total_fen:
        raise param_error("amount.total 与订单金额不一致")
    refunded = await session.scalar(
        select(func.coalesce(func.sum(PayRefund.refund_fen), 0)).where(
            PayRefund.order_id == order.id, PayRefund.status != "CLOSED"
        )
    )
    if int(refunded or 0) + amounts["refund"] > order.total_fen:
        raise PayApiError(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
    faults = await pay_faults.consume(session, "refund", out_trade_no=order.out_trade_no)
    config = await get_config(session)
    now = clock.now()
    refund = PayRefund(
        mchid=auth_mchid,
        order_id=order.id,
        out_refund_no=out_refund_no,
        refund_id=new_refund_id(now),
        out_trade_no=order.out_trade_no,
        transaction_id=order.transaction_id or "",
        refund_fen=amounts["refund"],
        total_fen=order.total_fen,
        currency="CNY",
        reason=reason,
        notify_url=notify_url or order.notify_url,
        status="PROCESSING",
        outcome=faults.faults.get("refund_outcome", {}).get("status", "SUCCESS"),
        settle_at=now + timedelta(seconds=float(config["refund_delay_seconds"])),
        user_received_account="支付用户零钱",
        created_at=now,
        updated_at=now,
    )
    session.add(refund)
    order.trade_state = "REFUND"
    order.trade_state_desc = TRADE_STATE_DESC["REFUND"]
    order.updated_at = now
    await session.flush()
    return refund


async def query_refund(session: AsyncSession, mchid: str, out_refund_no: str) -> dict[str, Any]:
    refund = await session.scalar(
        select(PayRefund).where(PayRefund.mchid == mchid, PayRefund.out_refund_no == out_refund_no)
    )
    if refund is None:
        raise PayApiError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
    return refund_json(refund)


async def settle_due_refunds(session: AsyncSession, *, limit: int = 200) -> int:
    """PROCESSING refunds whose time has come take their outcome and queue their REFUND.* notify."""
    now = clock.now()
    refunds = (
        await session.scalars(
            select(PayRefund)
            .where(PayRefund.status == "PROCESSING", PayRefund.settle_at <= now)
            .order_by(PayRefund.settle_at, PayRefund.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for refund in refunds:
        refund.status = refund.outcome
        refund.updated_at = now
        if refund.outcome == "SUCCESS":
            refund.success_time = now
        if refund.notify_url:
            await enqueue_notify(
                session,
                event_type=f"REFUND.{refund.outcome}",
                original_type="refund",
                resource_plain=refund_notify_json(refund),
                notify_url=refund.notify_url,
                out_trade_no=refund.out_trade_no,
                out_refund_no=refund.out_refund_no,
            )
    return len(refunds)
