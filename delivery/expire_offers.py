"""The ring deadline (a durable timer): offers nobody answered expire, their stores are told, the next ring goes out."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from delivery.audit import Entry, record
from delivery.notify_staff import closed_card, tell_store
from delivery.order_facts import order_ref
from delivery.repository import lock_dispatch, open_offer_count
from delivery.widen_ring import offer_next_ring

_EXPIRE = text(
    """
    UPDATE dispatch_offers SET status = 'expired'
    WHERE dispatch_id = :d AND ring = :ring AND status = 'open' AND deadline_at <= :now
    RETURNING id, store_id
    """
)


async def expire_ring(session: AsyncSession, dispatch_id: int, ring: int) -> str:
    """Runs at the ring's deadline; re-checks everything (a claim or a decline may have settled it already)."""
    d = await lock_dispatch(session, dispatch_id)
    if d.status != "offering" or d.ring != ring:
        return "settled"
    rows = (await session.execute(_EXPIRE, {"d": d.id, "ring": ring, "now": clock.now()})).all()
    if rows:
        await record(
            session,
            d.id,
            d.order_id,
            [Entry("offer_expired", store_id=r.store_id, offer_id=r.id, ring=ring) for r in rows],
        )
        facts = await order_ref(session, d.order_id)
        for r in rows:
            await tell_store(
                session,
                r.store_id,
                "offer_expired",
                closed_card(facts.number, "接单已超时，订单已转给其他门店 (the offer expired)"),
                {"offer_id": r.id, "order_id": facts.public_id, "number": facts.number},
                key=f"expired:{r.id}",
            )
    if await open_offer_count(session, d.id) > 0:
        return "waiting"  # a deadline moved later meanwhile; its own timer comes
    return await offer_next_ring(session, d, reason=f"ring {ring}: no store claimed it before the deadline")
