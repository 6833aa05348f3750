"""Declining an offer, with a reason HQ can read; when the whole ring has said no, the next ring goes out at once."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, jobs
from core.errors import InvalidInput
from delivery.audit import Entry, record
from delivery.claim_offer import explain_refusal
from delivery.errors import DeclineNeedsReason
from delivery.live import publish_after_commit
from delivery.repository import get_offer, lock_dispatch, open_offer_count, ring_timer_key
from delivery.widen_ring import offer_next_ring

log = structlog.get_logger(__name__)

MAX_REASON = 200

_DECLINE = text(
    """
    UPDATE dispatch_offers SET status = 'declined', decline_reason = :reason, answered_at = :now, answered_by = :user
    WHERE id = :offer AND status = 'open' AND deadline_at > :now
    RETURNING id
    """
)


@dataclass(frozen=True)
class DeclineResult:
    offer_id: int
    next_step: str  # waiting (others may still claim) | offered | hq | failed | closed


async def decline_offer(
    session: AsyncSession, offer_id: int, reason: str, *, actor: str, user_id: int | None = None
) -> DeclineResult:
    reason = (reason or "").strip()
    if not reason:
        raise DeclineNeedsReason()
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"the reason must be at most {MAX_REASON} characters")
    offer = await get_offer(session, offer_id)
    d = await lock_dispatch(session, offer.dispatch_id)  # the dispatch first, as every path does
    now = clock.now()
    if await session.scalar(_DECLINE, {"offer": offer.id, "reason": reason, "now": now, "user": user_id}) is None:
        await explain_refusal(session, await get_offer(session, offer.id))
    await record(
        session,
        d.id,
        d.order_id,
        [
            Entry(
                "offer_declined",
                actor=actor,
                store_id=offer.store_id,
                offer_id=offer.id,
                ring=offer.ring,
                reason=reason,
            )
        ],
    )
    publish_after_commit(session, offer.store_id, "offer_declined", {"offer_id": offer.id})
    if d.status != "offering" or offer.ring != d.ring or await open_offer_count(session, d.id) > 0:
        return DeclineResult(offer.id, "waiting" if d.status == "offering" else "closed")
    await jobs.cancel(session, ring_timer_key(d.id, d.ring))
    step = await offer_next_ring(session, d, reason=f"every store of ring {d.ring} declined")
    return DeclineResult(offer.id, step)
