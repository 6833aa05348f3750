"""mark_paid: payments reports money received for an order; idempotent by payment_ref.

One conditional update takes the order from created to paid (and on to reviewing when it holds
prescription items), with both event rows. Outcomes payments must act on: the payment arrived after the
order was cancelled, or a second payment for an order already paid — both mean refund `refund_due_fen`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, jobs, metrics
from core.errors import InvalidInput
from core.events import OrderPaid, OrderReadyForFulfilment, publish
from orders.place_order import payment_deadline_key
from orders.pricing_seams import capture_hold, consume_coupon
from orders.status import STATE_COLUMNS, OrderState, load_state, record_event, state_from_row

log = structlog.get_logger(__name__)

Outcome = Literal["paid", "already_paid", "order_cancelled", "duplicate_payment"]


@dataclass(frozen=True, slots=True)
class PaymentApplied:
    order_id: int
    outcome: Outcome
    status: str
    # Money payments must give back: a payment for a cancelled order, or a second payment.
    refund_due_fen: int = 0


_MARK_PAID = text(
    f"""
    WITH u AS (
        UPDATE orders SET
            status = CASE WHEN needs_review THEN 'reviewing' ELSE 'paid' END,
            paid_at = :paid_at, payment_ref = :ref, paid_fen = cash_due_fen, updated_at = :now,
            reviewing_at = CASE WHEN needs_review THEN CAST(:now AS timestamptz) END,
            review_status = CASE WHEN needs_review THEN 'pending' ELSE review_status END,
            ready_for_fulfilment_at = CASE WHEN needs_review THEN NULL ELSE CAST(:now AS timestamptz) END
        WHERE id = :id AND status = 'created'
        RETURNING {STATE_COLUMNS}
    ), e AS (
        INSERT INTO order_events (order_id, kind, from_status, to_status, actor, reason, data, at)
        SELECT u.id, 'status', x.f, x.t, :actor, x.r, CAST(:data AS jsonb), CAST(:now AS timestamptz)
        FROM u, (VALUES (1, 'created', 'paid', 'payment received'),
                        (2, 'paid', 'reviewing', 'prescription review needed')) AS x(n, f, t, r)
        WHERE x.n = 1 OR u.needs_review
        ORDER BY x.n
    )
    SELECT * FROM u
    """
)


async def record_payment(
    session: AsyncSession, order_id: int, payment_ref: str, paid_at: datetime, actor: str
) -> OrderState | None:
    """The conditional step created → paid (→ reviewing); None when the order was no longer created."""
    row = (
        await session.execute(
            _MARK_PAID,
            {
                "id": order_id,
                "ref": payment_ref,
                "paid_at": paid_at,
                "now": clock.now(),
                "actor": actor,
                "data": json.dumps({"payment_ref": payment_ref}),
            },
        )
    ).first()
    return state_from_row(row) if row is not None else None


async def mark_paid(
    session: AsyncSession, order_id: int, payment_ref: str, paid_at: datetime, *, actor: str = "payments"
) -> PaymentApplied:
    """Record the payment; publishes OrderPaid and, unless a prescription review is needed, OrderReadyForFulfilment."""
    if not payment_ref or len(payment_ref) > 64:
        raise InvalidInput("payment_ref must be 1–64 characters")
    order = await record_payment(session, order_id, payment_ref, paid_at, actor)
    if order is None:
        return await _not_created(session, order_id, payment_ref, actor)
    metrics.ORDERS.labels(to_status="paid").inc()
    await jobs.cancel(session, payment_deadline_key(order_id))
    if order.coupon_id is not None:
        await consume_coupon(session, order_id)
    if order.stored_value_fen:
        await capture_hold(session, order.stock_ref)
    await publish(session, OrderPaid(order_id=order_id, payment_ref=payment_ref, paid_at=paid_at))
    if not order.needs_review:
        await publish(session, OrderReadyForFulfilment(order_id=order_id))
    log.info("order_paid", order_id=order_id, payment_ref=payment_ref, status=order.status)
    return PaymentApplied(order_id, "paid", order.status)


async def _not_created(session: AsyncSession, order_id: int, payment_ref: str, actor: str) -> PaymentApplied:
    order: OrderState = await load_state(session, order_id)
    if order.payment_ref == payment_ref:
        return PaymentApplied(order_id, "already_paid", order.status)
    if order.status == "cancelled" and order.payment_ref is None:
        outcome: Outcome = "order_cancelled"
        reason = "payment arrived after the order was cancelled; to be refunded"
    else:
        outcome = "duplicate_payment"
        reason = "a second payment for an order already paid; to be refunded"
    await record_event(
        session, order_id, outcome, actor, reason, status=order.status, data={"payment_ref": payment_ref}
    )
    log.warning("order_payment_refused", order_id=order_id, payment_ref=payment_ref, outcome=outcome)
    return PaymentApplied(order_id, outcome, order.status, refund_due_fen=order.cash_due_fen)
