"""Order timers: the unpaid-order deadline (publishes PaymentDeadlineReached) and completion N days after handover."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.events import PaymentDeadlineReached, publish
from core.jobs import job_handler
from orders.place_order import PAYMENT_DEADLINE_JOB
from orders.transition_order import AUTO_COMPLETE_JOB, transition

log = structlog.get_logger(__name__)

_STATUS = text("SELECT status FROM orders WHERE id = :id")


@job_handler(PAYMENT_DEADLINE_JOB)
async def payment_deadline(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Still unpaid at the deadline: payments decides (query WeChat, credit or close, else cancel_order)."""
    order_id = int(payload["order_id"])
    status = await session.scalar(_STATUS, {"id": order_id})
    if status != "created":
        return
    log.info("order_payment_deadline", order_id=order_id)
    await publish(session, PaymentDeadlineReached(order_id=order_id))


@job_handler(AUTO_COMPLETE_JOB)
async def auto_complete(session: AsyncSession, payload: dict[str, Any]) -> None:
    order_id = int(payload["order_id"])
    status = await session.scalar(_STATUS, {"id": order_id})
    if status not in ("delivered", "picked_up"):
        return
    await transition(session, order_id, "completed", "system", "completed automatically after handover")
