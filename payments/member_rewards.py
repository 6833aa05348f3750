"""Members' reactions to order money (points, growth, points spent) and the top-up payable, registered at start-up.

They live here rather than in shop because they read the order (customer, amount paid) and shop sits
below orders; the rules themselves are shop.members' (points.py).
- OrderPaid: points and growth on the amount paid (cash + stored value); points spent on it are captured.
- RefundSucceeded: points and growth taken back in proportion to the refund (idempotent per refund).
- OrderCancelled: points spent on it go back; points earned on it (if it was paid) are taken back in full.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.events import OrderCancelled, OrderPaid, RefundSucceeded, subscribe
from orders.status import stock_ref
from payments.payables import payable_source, register_payable_source
from payments.topup_payables import TopUpPayables
from shop.members import award_points, capture_points, release_points, reverse_points


async def on_order_paid(session: AsyncSession, event: OrderPaid) -> None:
    payable = await payable_source("order").load(session, event.order_id)
    await capture_points(session, stock_ref(event.order_id))
    if payable.customer_id is not None:
        await award_points(session, payable.customer_id, event.order_id, payable.total_fen)


async def on_refund_succeeded(session: AsyncSession, event: RefundSucceeded) -> None:
    await reverse_points(session, event.order_id, event.amount_fen, f"refund:{event.refund_id}:{event.amount_fen}")


async def on_order_cancelled(session: AsyncSession, event: OrderCancelled) -> None:
    await release_points(session, stock_ref(event.order_id))
    payable = await payable_source("order").load(session, event.order_id)
    if payable.state != "unpaid" and payable.total_fen > 0:
        await reverse_points(session, event.order_id, payable.total_fen, "cancel")


def register_member_rewards() -> None:
    register_payable_source(TopUpPayables())
    subscribe(OrderPaid, on_order_paid)
    subscribe(RefundSucceeded, on_refund_succeeded)
    subscribe(OrderCancelled, on_order_cancelled)
