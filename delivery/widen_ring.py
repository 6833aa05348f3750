"""Offering the next ring: candidates again (state changes by the minute), the next K stores within the
ring's radius, an offer to each with one deadline, a timer for it, a card and a live update per store.
When no ring is left or nobody can keep the promise any more, the fallback decides."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, jobs
from delivery.audit import SYSTEM, Entry, record
from delivery.candidates import Candidate, Decision, find_candidates, hq_option
from delivery.eta import eta
from delivery.models import Dispatch
from delivery.notify_staff import offer_card, tell_store
from delivery.order_facts import order_ref
from delivery.repository import lines_of, offered_store_ids, ring_timer_key
from delivery.settings import DispatchSettings, dispatch_settings
from delivery.withdraw_offers import close_dispatch

log = structlog.get_logger(__name__)

RING_JOB = "delivery.ring_deadline"

_OFFER = text(
    """
    INSERT INTO dispatch_offers (dispatch_id, order_id, store_id, ring, rank, distance_m, status, sent_at, deadline_at)
    SELECT :d, :order_id, c.store_id, :ring, c.rank, c.distance_m, 'open', :now, :deadline
    FROM unnest(CAST(:stores AS bigint[]), CAST(:ranks AS smallint[]), CAST(:distances AS int[]))
         AS c(store_id, rank, distance_m)
    ON CONFLICT (dispatch_id, store_id) DO NOTHING
    RETURNING id, store_id, distance_m
    """
)


def pick_ring(decision: Decision, after_ring: int, s: DispatchSettings) -> tuple[int, list[Candidate]]:
    """The next ring that has someone in it: (ring number, its stores); ([], …) when none is left."""
    ring = after_ring + 1
    while ring <= s.max_rings:
        radius = math.inf if s.strategy == "nearest_first" else s.ring_radii_m[ring - 1]
        picked = [c for c in decision.ranked if c.distance_m <= radius][: s.ring_sizes[ring - 1]]
        if picked:
            return ring, picked
        ring += 1
    return ring, []


async def offer_next_ring(session: AsyncSession, d: Dispatch, *, reason: str) -> str:
    """Offer the dispatch's next ring (the caller holds the dispatch lock); returns offered | hq | failed."""
    from delivery.fall_back import fall_back

    s = dispatch_settings()
    now = clock.now()
    lines = lines_of(d)
    exclude = await offered_store_ids(session, d.id) if d.ring > 0 else set()
    if d.ring >= s.max_rings:
        return await fall_back(session, d, why=f"no store took it in {d.ring} ring(s)")
    decision = await find_candidates(
        session, d.lat, d.lng, lines, d.promise_at, holder_store_id=d.origin_store_id, exclude=exclude, now=now
    )
    ring, picked = pick_ring(decision, d.ring, s)
    considered = Entry(
        "candidates", ring=ring if picked else None, reason=reason, data=decision.record(d.lat, d.lng, lines)
    )
    if not picked:
        await record(session, d.id, d.order_id, [considered])
        retry_at = now + timedelta(seconds=s.capacity_retry_s)
        if await worth_waiting(session, d, decision, retry_at, s):
            return await wait_for_capacity(session, d, decision, retry_at)
        why = "no store nearby can keep the promise" if d.ring == 0 else f"no further store after ring {d.ring}"
        return await fall_back(session, d, why=why)
    deadline = now + timedelta(seconds=s.offer_deadline_s)
    rows = (
        await session.execute(
            _OFFER,
            {
                "d": d.id,
                "order_id": d.order_id,
                "ring": ring,
                "now": now,
                "deadline": deadline,
                "stores": [c.store_id for c in picked],
                "ranks": list(range(1, len(picked) + 1)),
                "distances": [round(c.distance_m) for c in picked],
            },
        )
    ).all()
    previous = d.ring
    d.status = "offering"
    d.ring = ring
    d.first_offer_at = d.first_offer_at or now
    d.updated_at = now
    await session.flush()
    entries = [considered]
    if previous:
        entries.append(
            Entry("ring_widened", ring=ring, reason=reason, data={"from_ring": previous, "stores": len(rows)})
        )
    entries += [
        Entry("offer_sent", store_id=r.store_id, offer_id=r.id, ring=ring, data={"deadline_at": deadline.isoformat()})
        for r in rows
    ]
    await record(session, d.id, d.order_id, entries)
    await jobs.enqueue(
        session, RING_JOB, {"dispatch_id": d.id, "ring": ring}, run_at=deadline, dedupe_key=ring_timer_key(d.id, ring)
    )
    if not (s.notify_staff or s.live_updates):
        return "offered"
    facts = await order_ref(session, d.order_id)
    items = sum(q for _, q in lines)
    for r in rows:
        await tell_store(
            session,
            r.store_id,
            "offer",
            offer_card(facts.number, r.id, r.distance_m, items, deadline, d.promise_at),
            {
                "offer_id": r.id,
                "order_id": facts.public_id,
                "number": facts.number,
                "distance_m": r.distance_m,
                "items": items,
                "deadline_at": deadline.isoformat(),
                "promise_at": d.promise_at.isoformat(),
            },
            key=f"offer:{r.id}",
        )
    log.info("dispatch_ring_offered", order_id=d.order_id, ring=ring, stores=[r.store_id for r in rows])
    return "offered"


async def worth_waiting(
    session: AsyncSession, d: Dispatch, decision: Decision, retry_at: datetime, s: DispatchSettings
) -> bool:
    """A store is only paused or full, would still keep the promise when asked at `retry_at`, and waiting
    does not cost the HQ fallback its chance."""
    if s.strategy == "nearest_first" or d.ring >= s.max_rings:
        return False
    if not any(eta(retry_at, c.distance_m, s) <= d.promise_at for c in decision.blocked):
        return False
    lines = lines_of(d)
    hq_now = await hq_option(session, d.lat, d.lng, lines, d.promise_at, holder_store_id=d.origin_store_id)
    if hq_now.candidate is None:
        return True
    later = await hq_option(session, d.lat, d.lng, lines, d.promise_at, holder_store_id=d.origin_store_id, now=retry_at)
    return later.candidate is not None


async def wait_for_capacity(session: AsyncSession, d: Dispatch, decision: Decision, retry_at: datetime) -> str:
    """No offer now: the same ring is tried again at `retry_at` (a durable timer, like a ring deadline)."""
    now = clock.now()
    d.status = "offering"
    d.updated_at = now
    await session.flush()
    blocked = [c.as_dict(now) for c in decision.blocked[:10]]
    await record(
        session,
        d.id,
        d.order_id,
        [
            Entry(
                "waiting",
                ring=d.ring,
                reason="nearby stores are busy or full",
                data={"retry_at": retry_at.isoformat(), "blocked": blocked},
            )
        ],
    )
    await jobs.enqueue(
        session,
        RING_JOB,
        {"dispatch_id": d.id, "ring": d.ring},
        run_at=retry_at,
        dedupe_key=f"{ring_timer_key(d.id, d.ring)}:wait:{int(now.timestamp())}",
    )
    return "waiting"


__all__ = ["RING_JOB", "SYSTEM", "close_dispatch", "offer_next_ring", "pick_ring"]
