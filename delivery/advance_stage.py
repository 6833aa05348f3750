"""Stage actions of the claiming store's staff: start preparing, assign who delivers, go out for delivery.

The order's state machine (orders.transition) decides what may follow what; the dispatch keeps the
stage times of its SLA clock and an audit entry per step.
"""

from __future__ import annotations

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput
from core.events import publish
from core.users import User
from delivery.audit import Entry, record
from delivery.errors import DispatchNotFound, StageNotAllowed
from delivery.events import DispatchStageChanged
from delivery.live import publish_after_commit
from delivery.models import Dispatch
from delivery.order_facts import order_facts
from delivery.repository import dispatch_of_order
from orders.transition_order import transition
from shop.stores.models import StoreStaff

log = structlog.get_logger(__name__)

STAGE_COLUMN = {"preparing": "preparing_at", "out_for_delivery": "out_for_delivery_at"}


async def claimed_dispatch(session: AsyncSession, order_id: int, store_id: int | None) -> Dispatch:
    """The order's dispatch, locked, claimed by `store_id` (None: any store, for HQ admins)."""
    d = await dispatch_of_order(session, order_id, lock=True)
    if d is None:
        facts = await order_facts(session, order_id)
        raise DispatchNotFound(facts.number)
    if d.status == "delivered":
        raise StageNotAllowed("this order was already delivered; nothing more to do", extra={"status": d.status})
    if d.status != "accepted":
        raise StageNotAllowed(
            f"this order is not claimed by a store (dispatch is {d.status}); claim it first", extra={"status": d.status}
        )
    if store_id is not None and d.accepted_store_id != store_id:
        raise StageNotAllowed(f"store {d.accepted_store_id} claimed this order, not store {store_id}")
    return d


async def move_stage(
    session: AsyncSession, order_id: int, stage: str, *, actor: str, store_id: int | None = None
) -> Dispatch:
    """preparing or out_for_delivery, in the order the state machine allows (else 409, nothing changed)."""
    if stage not in STAGE_COLUMN:
        raise InvalidInput(f"stage must be one of {', '.join(STAGE_COLUMN)} (deliver with the handoff code)")
    d = await claimed_dispatch(session, order_id, store_id)
    await transition(session, order_id, stage, actor, f"store {d.accepted_store_id}: {stage}")
    now = clock.now()
    setattr(d, STAGE_COLUMN[stage], now)
    if stage == "out_for_delivery" and d.courier_user_id is None and actor.startswith("user:"):
        d.courier_user_id = int(actor.removeprefix("user:"))
    d.updated_at = now
    await session.flush()
    await record(session, d.id, d.order_id, [Entry("stage", actor=actor, store_id=d.accepted_store_id, reason=stage)])
    await publish(session, DispatchStageChanged(order_id=order_id, stage=stage, store_id=d.accepted_store_id, at=now))
    assert d.accepted_store_id is not None
    publish_after_commit(session, d.accepted_store_id, "stage", {"order_id": order_id, "stage": stage})
    return d


async def assign_courier(
    session: AsyncSession, order_id: int, user_id: int, *, actor: str, store_id: int | None = None
) -> Dispatch:
    """Who of the store's staff takes it to the customer (they must work at the claiming store)."""
    d = await claimed_dispatch(session, order_id, store_id)
    works_there = await session.scalar(
        select(User.active)
        .join(StoreStaff, StoreStaff.user_id == User.id)
        .where(User.id == user_id, StoreStaff.store_id == d.accepted_store_id)
    )
    if not works_there:
        raise InvalidInput(f"user {user_id} is not active staff of store {d.accepted_store_id}")
    d.courier_user_id = user_id
    d.updated_at = clock.now()
    await session.flush()
    await record(
        session,
        d.id,
        d.order_id,
        [Entry("courier_assigned", actor=actor, store_id=d.accepted_store_id, data={"user_id": user_id})],
    )
    return d
