"""Starting a dispatch: the durable row when an urgent order is ready (OrderReadyForFulfilment), then the
first decision (candidates + ring 1 offers) in a job of its own, so the payment's transaction stays short
and a crash between the two loses nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, jobs
from core.events import publish
from delivery.audit import SYSTEM, Entry, record
from delivery.events import DispatchStarted
from delivery.order_facts import order_facts
from delivery.repository import lock_dispatch
from delivery.settings import dispatch_settings
from delivery.watch_sla import schedule_checks
from delivery.widen_ring import close_dispatch, offer_next_ring
from orders.errors import TransitionNotAllowed
from orders.status import load_state, stock_ref
from orders.transition_order import transition
from shop.stock.seam import get_reservation

log = structlog.get_logger(__name__)

START_JOB = "delivery.start_dispatch"

_OPEN = text(
    """
    INSERT INTO dispatches (order_id, status, ring, origin_store_id, lat, lng, lines, risk_level,
                            paid_at, promise_at, ready_at, created_at, updated_at)
    VALUES (:order_id, 'pending', 0, :store_id, :lat, :lng, CAST(:lines AS jsonb), 0,
            :paid_at, :promise_at, :now, :now, :now)
    ON CONFLICT (order_id) DO NOTHING
    RETURNING id
    """
)


def start_key(order_id: int) -> str:
    return f"delivery.start:{order_id}"


async def open_dispatch(session: AsyncSession, order_id: int) -> int | None:
    """For an urgent order that is ready: the dispatch row, its start job and its SLA timers (idempotent).

    promise_at = paid_at + 60 min whether or not a prescription review came first: the review time
    counts against the promise.
    """
    facts = await order_facts(session, order_id)
    if facts.kind != "urgent":
        return None
    if facts.lat is None or facts.lng is None:  # orders refuses urgent orders without an address
        log.error("dispatch_without_address", order_id=order_id)
        return None
    now = clock.now()
    paid_at = facts.paid_at or now
    promise_at = paid_at + timedelta(minutes=dispatch_settings().promise_min)
    reservation = await get_reservation(session, stock_ref(order_id))
    lines = [{"sku_id": x.sku_id, "qty": x.qty} for x in reservation.lines] if reservation else []
    dispatch_id = await session.scalar(
        _OPEN,
        {
            "order_id": order_id,
            "store_id": reservation.store_id if reservation else facts.store_id,
            "lat": facts.lat,
            "lng": facts.lng,
            "lines": json.dumps(lines),
            "paid_at": paid_at,
            "promise_at": promise_at,
            "now": now,
        },
    )
    if dispatch_id is None:
        return None  # already open (a repeated event)
    await record(
        session,
        dispatch_id,
        order_id,
        [Entry("created", data={"paid_at": paid_at.isoformat(), "promise_at": promise_at.isoformat(), "lines": lines})],
    )
    await jobs.enqueue(session, START_JOB, {"dispatch_id": dispatch_id}, dedupe_key=start_key(order_id))
    await schedule_checks(session, dispatch_id, paid_at, promise_at)
    await publish(session, DispatchStarted(order_id=order_id, promise_at=promise_at))
    return dispatch_id


async def start_dispatch(session: AsyncSession, dispatch_id: int) -> str:
    """The first decision: the order goes to dispatching, candidates are ranked, ring 1 is offered.

    Re-running it (a worker died after committing, a repeated job) changes nothing.
    """
    d = await lock_dispatch(session, dispatch_id)
    if d.status != "pending":
        return "already_started"
    try:
        await transition(session, d.order_id, "dispatching", SYSTEM, "urgent order: offering it to nearby stores")
    except TransitionNotAllowed:
        order = await load_state(session, d.order_id)
        if order.status != "dispatching":  # cancelled meanwhile (or moved on by hand): nothing to dispatch
            await close_dispatch(session, d, "cancelled", f"the order is {order.status}; nothing to dispatch")
            return "cancelled"
    return await offer_next_ring(session, d, reason="order paid")
