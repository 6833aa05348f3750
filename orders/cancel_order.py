"""Cancellation: cancel_order (release stock, coupon and stored-value hold; OrderCancelled with the refund due),
and the customer's cancel that becomes a request once the store has started on the order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, jobs
from core.errors import InvalidInput
from core.events import OrderCancelled, publish
from orders.errors import CancelNotAllowed, OrderChanged
from orders.place_order import payment_deadline_key
from orders.pricing_seams import credit_stored_value, release_coupon, release_hold
from orders.status import OrderState, allowed_next, apply_step, load_state, record_event
from shop.services import ReservationNotFound, get_reservation, release_stock

log = structlog.get_logger(__name__)

# A customer's cancel is immediate until the store has taken the order (claimed it or started preparing).
CUSTOMER_IMMEDIATE = frozenset({"created", "paid", "reviewing", "dispatching"})
CUSTOMER_REQUEST = frozenset({"accepted", "preparing", "ready"})
_ATTEMPTS = 4


@dataclass(frozen=True, slots=True)
class Cancellation:
    order_id: int
    outcome: Literal["cancelled", "already_cancelled", "paid_meanwhile"]
    from_status: str
    refund_due_fen: int = 0


async def cancel_order(
    session: AsyncSession, order_id: int, actor: str, reason: str, *, unpaid_only: bool = False
) -> Cancellation:
    """Cancel the order if its state allows; a repeat is a no-op ("already_cancelled").

    unpaid_only (the payment deadline): cancel only an order still unpaid; when the payment won the race
    the order stays as it is and the outcome is "paid_meanwhile".
    """
    reason = reason.strip() or "cancelled"
    for _ in range(_ATTEMPTS):
        order = await load_state(session, order_id)
        if order.status == "cancelled":
            return Cancellation(order_id, "already_cancelled", "cancelled")
        if unpaid_only and order.status != "created":
            return Cancellation(order_id, "paid_meanwhile", order.status)
        if "cancelled" not in allowed_next(order.kind, order.status):
            raise CancelNotAllowed(
                f"order {order.number} is {order.status}; it can no longer be cancelled "
                "(after delivery, ask for a refund instead)",
                extra={"status": order.status},
            )
        done = await apply_step(
            session,
            order_id,
            order.status,
            "cancelled",
            actor,
            reason,
            sets={"cancel_reason": reason[:300], "cancel_requested_at": None},
        )
        if done is not None:
            return await _after_cancel(session, done, order.status, reason)
    raise OrderChanged(f"order {order_id} kept changing while being cancelled; try again")


async def _after_cancel(session: AsyncSession, order: OrderState, from_status: str, reason: str) -> Cancellation:
    ref = order.stock_ref
    try:
        held = await get_reservation(session, ref)
        if held is not None and held.status == "held":
            await release_stock(session, ref)
    except ReservationNotFound:  # placed orders always reserve; nothing to give back otherwise
        log.warning("order_cancel_without_reservation", order_id=order.id)
    if order.coupon_id is not None:
        await release_coupon(session, order.id)
    if order.stored_value_fen:
        if order.paid_fen or order.payment_ref:  # captured at payment: give it back to the card
            if order.member_card_id is not None:
                await credit_stored_value(session, order.member_card_id, order.stored_value_fen, f"{ref}:cancel")
        else:
            await release_hold(session, ref)
    await jobs.cancel(session, payment_deadline_key(order.id))
    refund_due = order.paid_fen
    await publish(session, OrderCancelled(order_id=order.id, reason=reason, refund_due_fen=refund_due))
    log.info("order_cancelled", order_id=order.id, from_status=from_status, refund_due_fen=refund_due)
    return Cancellation(order.id, "cancelled", from_status, refund_due)


@dataclass(frozen=True, slots=True)
class CustomerCancel:
    order_id: int
    outcome: Literal["cancelled", "requested", "already_cancelled"]
    refund_due_fen: int = 0


_REQUEST = text(
    """
    UPDATE orders SET cancel_requested_at = :now, cancel_request_reason = :reason, updated_at = :now
    WHERE id = :id AND status = :status AND cancel_requested_at IS NULL
    RETURNING id
    """
)
_CLEAR_REQUEST = text(
    """
    UPDATE orders SET cancel_requested_at = NULL, updated_at = :now
    WHERE id = :id AND cancel_requested_at IS NOT NULL AND status <> 'cancelled'
    RETURNING status
    """
)


async def customer_cancel(session: AsyncSession, order_id: int, customer_id: int, reason: str) -> CustomerCancel:
    """Immediate before the store has taken the order; afterwards a request the store approves or declines."""
    actor = f"customer:{customer_id}"
    reason = (reason or "").strip()[:300] or "customer changed their mind"
    order = await load_state(session, order_id)
    if order.status in CUSTOMER_IMMEDIATE or order.status == "cancelled":
        done = await cancel_order(session, order_id, actor, reason)
        outcome: Literal["cancelled", "already_cancelled"] = (
            "cancelled" if done.outcome == "cancelled" else "already_cancelled"
        )
        return CustomerCancel(order_id, outcome, done.refund_due_fen)
    if order.status not in CUSTOMER_REQUEST:
        raise CancelNotAllowed(
            f"order {order.number} is {order.status}; it can no longer be cancelled "
            "(once it has arrived you can ask for a refund)",
            extra={"status": order.status},
        )
    if order.cancel_requested_at is not None:
        return CustomerCancel(order_id, "requested")
    hit = await session.scalar(_REQUEST, {"id": order_id, "status": order.status, "now": clock.now(), "reason": reason})
    if hit is None:
        raise OrderChanged("the order changed meanwhile; reload it and try again")
    await record_event(session, order_id, "cancel_requested", actor, reason, status=order.status)
    log.info("order_cancel_requested", order_id=order_id, status=order.status)
    return CustomerCancel(order_id, "requested")


async def decide_cancel_request(
    session: AsyncSession, order_id: int, approve: bool, actor: str, reason: str = ""
) -> Cancellation | None:
    """Staff approve (the order is cancelled) or decline (it carries on) a customer's cancel request."""
    order = await load_state(session, order_id)
    if order.cancel_requested_at is None or order.status == "cancelled":
        raise CancelNotAllowed(f"order {order.number} has no open cancel request")
    if approve:
        return await cancel_order(session, order_id, actor, reason or "cancel request approved")
    if not reason.strip():
        raise InvalidInput("say why the cancel request is declined; the customer sees the reason")
    status = await session.scalar(_CLEAR_REQUEST, {"id": order_id, "now": clock.now()})
    if status is None:
        raise OrderChanged("the order changed meanwhile; reload it")
    await record_event(session, order_id, "cancel_declined", actor, reason, status=status)
    return None
