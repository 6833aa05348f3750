"""Staff opened an offer (console or WeCom card): recorded once, so HQ sees who looked and did not answer."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from delivery.audit import Entry, record
from delivery.repository import get_offer

_SEEN = text("UPDATE dispatch_offers SET seen_at = :now WHERE id = :id AND seen_at IS NULL RETURNING dispatch_id")


async def see_offer(session: AsyncSession, offer_id: int, *, actor: str) -> bool:
    """True the first time; later calls change nothing."""
    offer = await get_offer(session, offer_id)
    if await session.scalar(_SEEN, {"id": offer.id, "now": clock.now()}) is None:
        return False
    await record(
        session,
        offer.dispatch_id,
        offer.order_id,
        [Entry("offer_seen", actor=actor, store_id=offer.store_id, offer_id=offer.id, ring=offer.ring)],
    )
    return True
