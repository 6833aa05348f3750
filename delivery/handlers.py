"""Dispatch's reactions to other domains' events and its start-up: the urgent-feasibility seam, the jobs."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core import seams
from core.events import OrderCancelled, OrderDelivered, OrderReadyForFulfilment, subscribe
from delivery.models import ACTIVE_DISPATCH
from delivery.repository import dispatch_of_order

log = structlog.get_logger(__name__)


async def on_ready_for_fulfilment(session: AsyncSession, event: OrderReadyForFulfilment) -> None:
    """Urgent orders only: pickup and normal delivery are their own store's work."""
    from delivery.start_dispatch import open_dispatch

    await open_dispatch(session, event.order_id)


async def on_order_cancelled(session: AsyncSession, event: OrderCancelled) -> None:
    """Cancelled elsewhere (the customer, staff, a rejected review): offers withdrawn, stores told, capacity freed."""
    from delivery.withdraw_offers import close_dispatch

    d = await dispatch_of_order(session, event.order_id, lock=True)
    if d is None or d.status not in ACTIVE_DISPATCH:
        return
    await close_dispatch(session, d, "cancelled", f"订单已取消 (order cancelled: {event.reason})"[:300])


async def on_order_delivered(session: AsyncSession, event: OrderDelivered) -> None:
    from delivery.deliver_order import mark_delivered

    await mark_delivered(session, event.order_id)


def register() -> None:
    import delivery.jobs
    import delivery.models  # noqa: F401 - mappers
    from delivery.feasibility import can_serve_urgent

    subscribe(OrderReadyForFulfilment, on_ready_for_fulfilment)
    subscribe(OrderCancelled, on_order_cancelled)
    subscribe(OrderDelivered, on_order_delivered)
    seams.register_urgent_feasibility(can_serve_urgent)
