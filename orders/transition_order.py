"""transition: move an order one stage on (staff, delivery, the system), with the side effects of that stage.

Paid and reviewing are reached only through mark_paid, cancelled only through cancel_order (which
transition delegates to). Fulfilment (preparing, dispatching) starts only once the order is ready for it:
paid, and approved when it holds prescription items. Goods leaving the store sell the reserved stock;
delivered (or picked up) schedules the automatic completion.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, jobs
from core.errors import InvalidInput
from core.events import OrderDelivered, OrderStatusChanged, publish
from orders.errors import OrderChanged, ReviewNotPending, TransitionNotAllowed
from orders.status import (
    FULFILMENT_START,
    OWN_USE_CASE,
    STAGE_COLUMN,
    OrderState,
    allowed_next,
    apply_step,
    load_state,
)
from orders.store_settings import DEFAULT_AUTO_COMPLETE_DAYS
from shop.services import commit_stock, transfer_reservation

log = structlog.get_logger(__name__)

AUTO_COMPLETE_JOB = "orders.auto_complete"
_ATTEMPTS = 4
# Where the goods leave the store: the reservation becomes a sale.
GOODS_LEAVE = frozenset({"out_for_delivery", "picked_up"})
HANDED_OVER = frozenset({"delivered", "picked_up"})

_AUTO_COMPLETE_DAYS = text(
    "SELECT coalesce((SELECT auto_complete_days FROM store_order_settings WHERE store_id = :store_id), :default)"
)


def auto_complete_key(order_id: int) -> str:
    return f"orders.auto_complete:{order_id}"


async def transition(
    session: AsyncSession,
    order_id: int,
    to: str,
    actor: str,
    reason: str = "",
    *,
    fulfil_store_id: int | None = None,
) -> OrderState:
    """Move the order to `to` if the table of its kind allows it from where it is now.

    `fulfil_store_id` goes with `accepted` (the store that claimed an urgent order).
    """
    if to not in STAGE_COLUMN:
        raise InvalidInput(f"{to!r} is not an order status")
    if to == "cancelled":
        from orders.cancel_order import cancel_order

        await cancel_order(session, order_id, actor, reason)
        return await load_state(session, order_id)
    if to in OWN_USE_CASE:
        raise InvalidInput(f"an order becomes {to} only through {OWN_USE_CASE[to]}")
    if (to == "accepted") != (fulfil_store_id is not None):
        raise InvalidInput("accepted needs the claiming store (fulfil_store_id), and only accepted takes one")
    for _ in range(_ATTEMPTS):
        order = await load_state(session, order_id)
        allowed = [s for s in allowed_next(order.kind, order.status) if s not in ("paid", "reviewing")]
        if to not in allowed:
            raise TransitionNotAllowed(order.number, order.kind, order.status, to, allowed)
        if to in FULFILMENT_START and order.ready_for_fulfilment_at is None:
            raise ReviewNotPending(
                f"order {order.number} waits for its prescription review; approve the prescription first",
                extra={"status": order.status, "review_status": order.review_status},
            )
        sets = {"fulfil_store_id": fulfil_store_id} if fulfil_store_id is not None else {}
        done = await apply_step(session, order_id, order.status, to, actor, reason, sets=sets)
        if done is not None:
            await _after(session, done, to)
            return done
    raise OrderChanged(f"order {order_id} kept changing; reload it and try again")


async def _after(session: AsyncSession, order: OrderState, to: str) -> None:
    await publish(
        session,
        OrderStatusChanged(
            order_id=order.id, kind=order.kind, to_status=to, store_id=order.fulfil_store_id or order.store_id
        ),
    )
    if to in GOODS_LEAVE:
        await commit_stock(session, order.stock_ref)
    if to in HANDED_OVER:
        days = await session.scalar(
            _AUTO_COMPLETE_DAYS, {"store_id": order.store_id, "default": DEFAULT_AUTO_COMPLETE_DAYS}
        )
        await jobs.enqueue(
            session,
            AUTO_COMPLETE_JOB,
            {"order_id": order.id},
            run_at=clock.now() + timedelta(days=int(days)),
            dedupe_key=auto_complete_key(order.id),
        )
    if to == "delivered":
        await publish(session, OrderDelivered(order_id=order.id))
    if to == "completed":
        await jobs.cancel(session, auto_complete_key(order.id))


async def accept_order(session: AsyncSession, order_id: int, store_id: int, actor: str, reason: str = "") -> OrderState:
    """A store takes an urgent order: its reserved stock moves there first (or OutOfStock, nothing changed)."""
    order = await load_state(session, order_id)
    if store_id != order.working_store_id:
        await transfer_reservation(session, order.stock_ref, store_id)
    return await transition(session, order_id, "accepted", actor, reason or "accepted", fulfil_store_id=store_id)
