"""Engage's reactions to other domains' events: customer notifications for each order stage.

They run in the publisher's transaction (inside a savepoint, so a notification problem never undoes the
business change) and only write to the outbox; the worker sends after commit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.events import (
    CouponExpiring,
    DispatchAccepted,
    OrderCancelled,
    OrderDelivered,
    OrderPaid,
    OrderStatusChanged,
    RefundSucceeded,
    subscribe,
)
from engage import notify_orders as n
from engage.coupon_campaigns import remind_expiring


async def on_order_paid(session: AsyncSession, event: OrderPaid) -> None:
    await n.notify_safely(session, event.order_id, n.paid(), ref=str(event.order_id))


async def on_dispatch_accepted(session: AsyncSession, event: DispatchAccepted) -> None:
    await n.notify_safely(session, event.order_id, n.accepted(event.store_id), ref=f"{event.order_id}:{event.store_id}")


async def on_order_delivered(session: AsyncSession, event: OrderDelivered) -> None:
    await n.notify_safely(session, event.order_id, n.delivered(), ref=str(event.order_id))


async def on_order_cancelled(session: AsyncSession, event: OrderCancelled) -> None:
    await n.notify_safely(
        session, event.order_id, n.cancelled(event.reason, event.refund_due_fen), ref=str(event.order_id)
    )


async def on_refund_succeeded(session: AsyncSession, event: RefundSucceeded) -> None:
    await n.notify_safely(session, event.order_id, n.refunded(event.amount_fen), ref=str(event.refund_id))


async def on_out_for_delivery(session: AsyncSession, event: Any) -> None:
    await n.notify_safely(session, event.order_id, n.out_for_delivery(), ref=str(event.order_id))


async def on_status_changed(session: AsyncSession, event: OrderStatusChanged) -> None:
    """Out for delivery, and a store starting a pickup/delivery order (urgent ones have DispatchAccepted)."""
    if event.to_status == "out_for_delivery":
        await on_out_for_delivery(session, event)
    elif event.to_status == "preparing" and event.kind in ("pickup", "delivery"):
        await n.notify_safely(session, event.order_id, n.accepted(event.store_id), ref=str(event.order_id))


def register() -> None:
    import engage.models  # noqa: F401 - mappers configured before the first query

    subscribe(OrderPaid, on_order_paid)
    subscribe(DispatchAccepted, on_dispatch_accepted)
    subscribe(OrderDelivered, on_order_delivered)
    subscribe(OrderCancelled, on_order_cancelled)
    subscribe(RefundSucceeded, on_refund_succeeded)
    subscribe(OrderStatusChanged, on_status_changed)
    subscribe(CouponExpiring, remind_expiring)
