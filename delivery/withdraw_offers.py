"""Withdrawing open offers (another store won, the order was cancelled) and closing a dispatch."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, jobs
from delivery.audit import SYSTEM, Entry, record
from delivery.models import Dispatch
from delivery.notify_staff import closed_card, tell_store
from delivery.order_facts import order_ref
from delivery.repository import ring_timer_key

_WITHDRAW = text(
    """
    UPDATE dispatch_offers SET status = 'withdrawn', answered_at = :now
    WHERE dispatch_id = :d AND status = 'open'
    RETURNING id, store_id, ring
    """
)


async def withdraw_open_offers(session: AsyncSession, d: Dispatch, why: str, *, actor: str = SYSTEM) -> list[int]:
    """Every open offer of the dispatch is withdrawn and its store told why; returns the stores told."""
    rows = (await session.execute(_WITHDRAW, {"d": d.id, "now": clock.now()})).all()
    if not rows:
        return []
    await record(
        session,
        d.id,
        d.order_id,
        [
            Entry("offer_withdrawn", actor=actor, store_id=r.store_id, offer_id=r.id, ring=r.ring, reason=why)
            for r in rows
        ],
    )
    facts = await order_ref(session, d.order_id)
    for r in rows:
        await tell_store(
            session,
            r.store_id,
            "offer_withdrawn",
            closed_card(facts.number, why),
            {"offer_id": r.id, "order_id": facts.public_id, "number": facts.number, "reason": why},
            key=f"withdrawn:{r.id}",
        )
    return [r.store_id for r in rows]


async def close_dispatch(session: AsyncSession, d: Dispatch, status: str, reason: str, *, actor: str = SYSTEM) -> None:
    """End the dispatch (cancelled or failed): offers withdrawn, the ring timer cancelled, the reason recorded."""
    now = clock.now()
    d.status = status
    d.closed_at = now
    d.updated_at = now
    await session.flush()
    await jobs.cancel(session, ring_timer_key(d.id, d.ring))
    await withdraw_open_offers(session, d, reason, actor=actor)
    await record(session, d.id, d.order_id, [Entry(status, actor=actor, reason=reason)])
