"""Read models: offers of a store's console, deliveries with their SLA clock, the customer's view, the timeline."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput
from delivery.errors import DispatchNotFound
from delivery.models import OFFER_STATUSES, Dispatch, DispatchEvent, DispatchOffer
from delivery.order_facts import OrderFacts
from delivery.repository import dispatch_of_order
from delivery.schemas import (
    CustomerDispatchOut,
    DeliveryOut,
    OfferLineOut,
    OfferOut,
    StagesOut,
    TimelineEntryOut,
    TimelineOut,
)
from orders.models import Order, OrderLine
from shop.stores.models import Store

MAX_ROWS = 200


def _minutes(until: datetime, now: datetime) -> int:
    return math.floor((until - now).total_seconds() / 60)


def stages_of(d: Dispatch) -> StagesOut:
    return StagesOut(d.paid_at, d.first_offer_at, d.accepted_at, d.preparing_at, d.out_for_delivery_at, d.delivered_at)


async def offers_of_stores(
    session: AsyncSession, store_ids: Sequence[int] | None, *, status: str | None = "open", limit: int = 50
) -> list[OfferOut]:
    """Offers to these stores (None: all), newest first; `status=None` for every status."""
    if status is not None and status not in OFFER_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(OFFER_STATUSES)}")
    if not 1 <= limit <= MAX_ROWS:
        raise InvalidInput(f"limit must be from 1 to {MAX_ROWS}")
    q = (
        select(DispatchOffer, Order.public_id, Order.number, Dispatch.promise_at)
        .join(Dispatch, Dispatch.id == DispatchOffer.dispatch_id)
        .join(Order, Order.id == DispatchOffer.order_id)
        .order_by(DispatchOffer.id.desc())
        .limit(limit)
    )
    if store_ids is not None:
        q = q.where(DispatchOffer.store_id.in_(list(store_ids)))
    if status is not None:
        q = q.where(DispatchOffer.status == status)
    rows = (await session.execute(q)).all()
    order_ids = list({r[0].order_id for r in rows})
    lines: dict[int, list[OfferLineOut]] = {}
    if order_ids:
        for ln in (
            await session.execute(
                select(OrderLine.order_id, OrderLine.sku_id, OrderLine.title, OrderLine.qty)
                .where(OrderLine.order_id.in_(order_ids))
                .order_by(OrderLine.order_id, OrderLine.line_no)
            )
        ).all():
            lines.setdefault(ln.order_id, []).append(OfferLineOut(ln.sku_id, ln.title, ln.qty))
    now = clock.now()
    return [
        OfferOut(
            offer_id=o.id,
            order_id=public_id,
            number=number,
            store_id=o.store_id,
            ring=o.ring,
            rank=o.rank,
            distance_m=o.distance_m,
            status=o.status,
            sent_at=o.sent_at,
            deadline_at=o.deadline_at,
            seconds_to_deadline=max(0, int((o.deadline_at - now).total_seconds())) if o.status == "open" else 0,
            promise_at=promise_at,
            minutes_to_promise=_minutes(promise_at, now),
            seen=o.seen_at is not None,
            lines=lines.get(o.order_id, []),
            decline_reason=o.decline_reason,
        )
        for o, public_id, number, promise_at in rows
    ]


def delivery_out(d: Dispatch, public_id: str, number: str, order_status: str, now: datetime) -> DeliveryOut:
    return DeliveryOut(
        order_id=public_id,
        number=number,
        dispatch_status=d.status,
        order_status=order_status,
        ring=d.ring,
        store_id=d.accepted_store_id,
        fallback=d.fallback,
        promise_at=d.promise_at,
        minutes_left=_minutes(d.promise_at, now),
        stages=stages_of(d),
        courier_user_id=d.courier_user_id,
        risk_level=d.risk_level,
        proof_photo_url=d.proof_photo_url,
    )


async def deliveries_of_stores(
    session: AsyncSession, store_ids: Sequence[int] | None, *, active_only: bool = True, limit: int = 50
) -> list[DeliveryOut]:
    """Orders these stores claimed (None: all dispatches, for HQ), most urgent first."""
    if not 1 <= limit <= MAX_ROWS:
        raise InvalidInput(f"limit must be from 1 to {MAX_ROWS}")
    q = select(Dispatch, Order.public_id, Order.number, Order.status).join(Order, Order.id == Dispatch.order_id)
    if store_ids is not None:
        q = q.where(Dispatch.accepted_store_id.in_(list(store_ids)))
    if active_only:
        q = q.where(Dispatch.status.in_(("pending", "offering", "accepted")))
    q = q.order_by(Dispatch.promise_at, Dispatch.id).limit(limit)
    now = clock.now()
    return [delivery_out(d, pid, num, st, now) for d, pid, num, st in (await session.execute(q)).all()]


async def require_dispatch(session: AsyncSession, facts: OrderFacts) -> Dispatch:
    d = await dispatch_of_order(session, facts.id)
    if d is None:
        raise DispatchNotFound(facts.number)
    return d


_CUSTOMER_STAGE = {
    "pending": "finding_store",
    "offering": "finding_store",
    "cancelled": "cancelled",
    "failed": "cancelled",
    "delivered": "delivered",
}


async def customer_view(session: AsyncSession, facts: OrderFacts) -> CustomerDispatchOut:
    d = await require_dispatch(session, facts)
    stage = _CUSTOMER_STAGE.get(d.status)
    if stage is None:  # accepted: the order's own stage says how far the store is
        stage = facts.status if facts.status in ("preparing", "out_for_delivery", "delivered") else "accepted"
    name = (
        await session.scalar(select(Store.name).where(Store.id == d.accepted_store_id)) if d.accepted_store_id else None
    )
    return CustomerDispatchOut(
        order_id=facts.public_id,
        number=facts.number,
        stage=stage,
        store_name=name,
        promise_at=d.promise_at,
        minutes_left=_minutes(d.promise_at, clock.now()),
        stages=stages_of(d),
        handoff_code=facts.handoff_code if stage not in ("delivered", "cancelled") else None,
    )


async def timeline(session: AsyncSession, facts: OrderFacts) -> TimelineOut:
    """The whole story of the order's dispatch, in the order it happened."""
    d = await require_dispatch(session, facts)
    events = (
        await session.scalars(select(DispatchEvent).where(DispatchEvent.dispatch_id == d.id).order_by(DispatchEvent.id))
    ).all()
    return TimelineOut(
        order_id=facts.public_id,
        number=facts.number,
        dispatch_status=d.status,
        promise_at=d.promise_at,
        stages=stages_of(d),
        entries=[
            TimelineEntryOut(e.at, e.kind, e.actor, e.store_id, e.offer_id, e.ring, e.reason, e.data) for e in events
        ],
    )


async def involved_store_ids(session: AsyncSession, order_id: int) -> set[int]:
    """Stores that were offered the order (their staff may read its timeline)."""
    d = await dispatch_of_order(session, order_id)
    if d is None:
        return set()
    ids = set((await session.scalars(select(DispatchOffer.store_id).where(DispatchOffer.dispatch_id == d.id))).all())
    return ids | ({d.accepted_store_id} if d.accepted_store_id else set())
