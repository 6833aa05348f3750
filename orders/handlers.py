"""Orders' reactions to other domains' events (registered at start-up by core.app)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import seams
from core.events import RefundSucceeded, subscribe
from orders.after_sales import mark_refunded

_HAS_PAID = text("SELECT EXISTS (SELECT 1 FROM orders WHERE customer_id = :c AND paid_at IS NOT NULL)")


async def has_paid_order(session: AsyncSession, customer_id: int) -> bool:
    """For shop's first-order (新人) coupons: has this customer ever paid an order?"""
    return bool(await session.scalar(_HAS_PAID, {"c": customer_id}))


async def on_refund_succeeded(session: AsyncSession, event: RefundSucceeded) -> None:
    await mark_refunded(session, event.refund_id, event.order_id, event.amount_fen)


def register() -> None:
    subscribe(RefundSucceeded, on_refund_succeeded)
    seams.register_paid_order_check(has_paid_order)
