"""Prescription review (处方药): staff approve (fulfilment may start) or reject (the order is cancelled, refunded in full)."""

from __future__ import annotations

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput
from core.events import OrderReadyForFulfilment, publish
from orders.cancel_order import cancel_order
from orders.errors import ReviewNotPending
from orders.status import OrderState, load_state, record_event

log = structlog.get_logger(__name__)

_DECIDE = text(
    """
    UPDATE orders SET review_status = :decision, reviewed_at = :now, reviewed_by = :actor, review_reason = :reason,
        ready_for_fulfilment_at = CASE WHEN :approve THEN CAST(:now AS timestamptz) END,
        updated_at = :now
    WHERE id = :id AND status = 'reviewing' AND review_status = 'pending'
    RETURNING id
    """
)


async def review_prescription(
    session: AsyncSession, order_id: int, approve: bool, actor: str, reason: str = ""
) -> OrderState:
    """Decide the pending review of an order in `reviewing`; a rejection needs a reason the customer will read."""
    reason = (reason or "").strip()
    if not approve and not reason:
        raise InvalidInput("say why the prescription is rejected; the customer sees the reason")
    decision = "approved" if approve else "rejected"
    hit = await session.scalar(
        _DECIDE,
        {
            "id": order_id,
            "decision": decision,
            "approve": approve,
            "now": clock.now(),
            "actor": actor[:64],
            "reason": reason[:300],
        },
    )
    if hit is None:
        order = await load_state(session, order_id)
        raise ReviewNotPending(
            f"order {order.number} has no pending prescription review (it is {order.status}, "
            f"review {order.review_status})",
            extra={"status": order.status, "review_status": order.review_status},
        )
    await record_event(session, order_id, "review", actor, reason, status="reviewing", data={"decision": decision})
    log.info("prescription_reviewed", order_id=order_id, decision=decision, actor=actor)
    if approve:
        await publish(session, OrderReadyForFulfilment(order_id=order_id))
    else:
        await cancel_order(session, order_id, actor, f"prescription rejected: {reason}")
    return await load_state(session, order_id)
