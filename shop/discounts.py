"""The discounts seam (engineering.md) that orders looks up: coupon quote, lock, release, consume.

Stacking rule: one coupon per order. The coupon and the member discount are both computed on the item
subtotal at list price (a scoped coupon on the lines in its scope) and add up; orders.pricing caps the sum
so the order is never negative and costs at least 1 fen. A free-delivery coupon sets the delivery fee to 0
(`free_delivery` in the quote), never the urgent surcharge.

Lifecycle: placing an order locks the coupon (available/returned → locked, one conditional UPDATE, so two
orders can never share one); payment consumes it (→ used); cancelling the order, or approving a refund of
the whole order, gives it back (→ returned, usable again; → expired if it ended meanwhile).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shop.coupons.claim_coupon import Claimed, issue_quietly
from shop.coupons.models import CouponTemplate
from shop.coupons.quote_coupons import CouponOption, DiscountQuote, quote_discounts
from shop.coupons.redeem_coupon import consume_coupon, lock_coupon, release_coupon

APOLOGY_TEMPLATE_CODE = "apology"

__all__ = [
    "APOLOGY_TEMPLATE_CODE",
    "CouponOption",
    "DiscountQuote",
    "consume_coupon",
    "issue_apology_coupon",
    "lock_coupon",
    "quote_discounts",
    "release_coupon",
]


async def issue_apology_coupon(session: AsyncSession, customer_id: int, order_id: int, reason: str) -> int | None:
    """Delivery's seam: a coupon of the template coded "apology" for a failed urgent order (None if none left)."""
    template_id = await session.scalar(
        select(CouponTemplate.id).where(CouponTemplate.code == APOLOGY_TEMPLATE_CODE, CouponTemplate.status == "active")
    )
    if template_id is None:
        return None
    claimed: Claimed | None = await issue_quietly(session, customer_id, template_id, source="apology")
    return claimed.coupon_id if claimed is not None else None
