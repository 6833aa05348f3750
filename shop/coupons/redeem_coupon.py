"""A coupon's life on an order and in store: lock at placement, consume when paid, return on cancel/refund,
or redeem at the counter. Each step is one conditional UPDATE, so one coupon serves one order."""

from __future__ import annotations

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from shop.coupons.errors import CouponNotApplicable, CouponNotRedeemable

log = structlog.get_logger(__name__)

_LOCK = text(
    """
    UPDATE customer_coupons SET state = 'locked', order_id = :order_id, locked_at = :now
    WHERE id = :id AND state IN ('available', 'returned') AND valid_from <= :now AND :now < valid_until
    RETURNING id
    """
)


async def lock_coupon(session: AsyncSession, coupon_id: int, order_id: int) -> None:
    """available/returned → locked by the order; a second order for the same coupon is refused (422)."""
    if await session.scalar(_LOCK, {"id": coupon_id, "order_id": order_id, "now": clock.now()}) is None:
        state = await session.scalar(text("SELECT state FROM customer_coupons WHERE id = :id"), {"id": coupon_id})
        why = {"locked": "已被另一个订单占用", "used": "已经使用过了", "expired": "已过期"}.get(
            str(state), "已不在有效期内"
        )
        raise CouponNotApplicable(f"这张优惠券{why}，请换一张或不用券", extra={"coupon_id": coupon_id})
    log.info("coupon_locked", coupon_id=coupon_id, order_id=order_id)


_CONSUME = text(
    "UPDATE customer_coupons SET state = 'used', used_at = :now WHERE order_id = :order_id AND state = 'locked' "
    "RETURNING id"
)


async def consume_coupon(session: AsyncSession, order_id: int) -> None:
    """The order was paid: its locked coupon is used (a repeat is a no-op)."""
    hit = await session.scalar(_CONSUME, {"order_id": order_id, "now": clock.now()})
    if hit is not None:
        log.info("coupon_used", coupon_id=hit, order_id=order_id)


# Back to the customer: 'returned' is usable like 'available', unless it ended meanwhile.
_RELEASE = text(
    """
    UPDATE customer_coupons
    SET state = CASE WHEN valid_until <= :now THEN 'expired' ELSE 'returned' END,
        returned_at = :now, expired_at = CASE WHEN valid_until <= :now THEN :now END,
        times_returned = times_returned + 1, locked_at = NULL, used_at = NULL
    WHERE order_id = :order_id AND state IN ('locked', 'used')
    RETURNING id, state
    """
)


async def release_coupon(session: AsyncSession, order_id: int) -> None:
    """The order was cancelled or fully refunded: give its coupon back (a repeat is a no-op)."""
    row = (await session.execute(_RELEASE, {"order_id": order_id, "now": clock.now()})).first()
    if row is not None:
        log.info("coupon_returned", coupon_id=row.id, order_id=order_id, state=row.state)


_FIND_BY_CODE = text(
    """
    SELECT c.id, c.customer_id, c.state, c.valid_from, c.valid_until, c.template_id, t.title, t.scope, t.scope_ids,
           t.kind
    FROM customer_coupons c JOIN coupon_templates t ON t.id = c.template_id
    WHERE c.code = :code
    """
)
_REDEEM = text(
    """
    UPDATE customer_coupons SET state = 'used', used_at = :now, used_store_id = :store_id
    WHERE code = :code AND state IN ('available', 'returned') AND valid_from <= :now AND :now < valid_until
    RETURNING id
    """
)


async def find_by_code(session: AsyncSession, code: str) -> object:
    row = (await session.execute(_FIND_BY_CODE, {"code": code.strip()})).first()
    if row is None:
        raise CouponNotRedeemable("券码不存在，请核对顾客出示的券码", extra={"reason": "unknown"})
    return row


def check_redeemable(row: object, store_id: int) -> None:
    r = row._mapping  # type: ignore[attr-defined]
    now = clock.now()
    if r["state"] not in ("available", "returned"):
        what = {"locked": "已被线上订单占用", "used": "已经核销过了", "expired": "已过期"}.get(r["state"], r["state"])
        raise CouponNotRedeemable(f"这张券{what}", extra={"reason": r["state"]})
    if not r["valid_from"] <= now < r["valid_until"]:
        raise CouponNotRedeemable("这张券不在有效期内", extra={"reason": "not_valid_now"})
    if r["scope"] == "stores" and store_id not in (r["scope_ids"] or []):
        raise CouponNotRedeemable("这张券不能在本店使用", extra={"reason": "store_scope"})
    if r["kind"] == "free_delivery":
        raise CouponNotRedeemable("免配送费券只能在线上配送订单使用", extra={"reason": "online_only"})


async def redeem_in_store(session: AsyncSession, code: str, store_id: int) -> object:
    """Staff at `store_id` mark the customer's coupon used at the counter; returns the coupon row."""
    row = await find_by_code(session, code)
    check_redeemable(row, store_id)
    hit = await session.scalar(_REDEEM, {"code": code.strip(), "store_id": store_id, "now": clock.now()})
    if hit is None:  # a concurrent redemption or order got it first
        raise CouponNotRedeemable("这张券刚刚被使用了", extra={"reason": "used"})
    log.info("coupon_redeemed_in_store", coupon_id=hit, store_id=store_id)
    return row
