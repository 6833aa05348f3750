"""Customer notifications on order, payment and dispatch events: a template message per stage (template
ids configured per account), or a customer-service text inside the 48 h window when none is configured;
always through the outbox, in the transaction of the event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.money import format_yuan
from engage import links
from engage.accounts import account_by_id
from engage.followers import get_follower
from engage.outbox import queue_custom, queue_template, template_for
from orders.services import load_state
from shop.services import get_store

log = structlog.get_logger(__name__)

# purpose -> what the stage is called in the message
PURPOSES: dict[str, str] = {
    "order_paid": "支付成功",
    "order_accepted": "门店已接单",
    "order_out_for_delivery": "配送中",
    "order_delivered": "已送达",
    "order_cancelled": "已取消",
    "order_refunded": "退款成功",
    "coupon_expiring": "优惠券即将过期",
    "push": "活动通知",
}


@dataclass(frozen=True)
class Stage:
    purpose: str
    first: str
    remark: str = "点击查看订单详情"
    amount_fen: int | None = None
    store_id: int | None = None


async def notify_order(session: AsyncSession, order_id: int, stage: Stage, *, ref: str) -> int | None:
    """Queue the stage's message to the order's customer; at most once per (purpose, ref).

    A customer who does not follow the account (signed in by OAuth only, or left) cannot be reached:
    nothing is queued, at the cost of two reads on the payment's hot path.
    """
    order = await load_state(session, order_id)
    follower = await get_follower(session, order.customer_id)
    if follower is None or not follower.subscribed:
        log.info("order_notification_not_following", order_id=order_id, purpose=stage.purpose)
        return None
    account = await account_by_id(session, follower.account_id)
    store = await get_store(session, stage.store_id or order.working_store_id)
    amount = stage.amount_fen if stage.amount_fen is not None else order.total_fen
    label = PURPOSES[stage.purpose]
    url = links.order_url(order.public_id, account.appid)
    common: dict[str, Any] = {
        "account_id": account.id,
        "customer_id": follower.customer_id,
        "openid": follower.openid,
        "purpose": stage.purpose,
        "ref": str(order_id),
        "dedupe_key": f"{stage.purpose}:{ref}",
    }
    template_id = await template_for(session, account.id, stage.purpose)
    if template_id:
        data = {
            "first": stage.first,
            "keyword1": order.number,
            "keyword2": label,
            "keyword3": format_yuan(amount),
            "keyword4": store.name,
            "remark": stage.remark,
        }
        return await queue_template(session, follower, template_id, data, url=url, **common)
    text = f"{stage.first}\n订单号：{order.number}\n状态：{label}\n金额：{format_yuan(amount)}\n门店：{store.name}\n{stage.remark}"
    news = {"msgtype": "news", "news": {"articles": [{"title": f"订单{label}", "description": text, "url": url}]}}
    return await queue_custom(session, follower, news, **common)


async def notify_customer(
    session: AsyncSession,
    customer_id: int,
    purpose: str,
    data: dict[str, str],
    *,
    ref: str,
    url: str | None = None,
    fallback_text: str | None = None,
) -> int | None:
    """The seam for other notifications (the coupon issue's "coupon expiring"): a template message of the
    account's template for `purpose`, or `fallback_text` as a customer-service message inside 48 h."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown notification purpose {purpose}")
    follower = await get_follower(session, customer_id)
    if follower is None or not follower.subscribed:
        return None
    common: dict[str, Any] = {
        "account_id": follower.account_id,
        "customer_id": customer_id,
        "openid": follower.openid,
        "purpose": purpose,
        "ref": ref,
        "dedupe_key": f"{purpose}:{ref}",
    }
    template_id = await template_for(session, follower.account_id, purpose)
    if template_id:
        return await queue_template(session, follower, template_id, data, url=url, **common)
    if fallback_text:
        return await queue_custom(session, follower, {"msgtype": "text", "text": {"content": fallback_text}}, **common)
    return None


async def notify_safely(session: AsyncSession, order_id: int, stage: Stage, *, ref: str) -> None:
    """Run in the publisher's transaction, inside a savepoint: a notification problem never undoes a payment."""
    try:
        async with session.begin_nested():
            await notify_order(session, order_id, stage, ref=ref)
    except Exception:
        log.exception("order_notification_failed", order_id=order_id, purpose=stage.purpose)


def paid(total_fen: int | None = None) -> Stage:
    return Stage("order_paid", "您的订单已支付成功，门店正在为您准备。", amount_fen=total_fen)


def accepted(store_id: int | None) -> Stage:
    return Stage("order_accepted", "门店已接单，正在为您备货。", store_id=store_id)


def out_for_delivery() -> Stage:
    return Stage(
        "order_out_for_delivery", "您的订单已出发，骑手正在配送中。", remark="请保持电话畅通，收货时出示取货码"
    )


def delivered() -> Stage:
    return Stage("order_delivered", "您的订单已送达，感谢惠顾！", remark="如有问题，请在公众号留言")


def cancelled(reason: str, refund_due_fen: int) -> Stage:
    remark = f"原因：{reason}" if reason else "点击查看订单详情"
    if refund_due_fen > 0:
        remark += f"；{format_yuan(refund_due_fen)}将原路退回"
    return Stage("order_cancelled", "您的订单已取消。", remark=remark, amount_fen=refund_due_fen or None)


def refunded(amount_fen: int) -> Stage:
    return Stage("order_refunded", "您的退款已到账。", remark="款项已原路退回您的支付账户", amount_fen=amount_fen)
