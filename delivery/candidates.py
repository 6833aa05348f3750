"""Candidate stores for an urgent order: the Redis GEO mirror finds the nearest, PostgreSQL decides who qualifies.

A candidate is an active partner store whose delivery radius covers the address, open now and until
the promise, not paused by its staff, holding every line in stock, below its urgent capacity (unless
the strategy is plain nearest-first) and near enough to keep the promise. Ranked by distance; within
the same distance band by current load. Every decision keeps its inputs and the reason each store
was left out, for the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from delivery.eta import can_make_it, eta, open_at_all, open_through, sample_points
from delivery.settings import DispatchSettings, dispatch_settings
from shop.stores.geo import haversine_m
from shop.stores.nearest import MAX_LIMIT, nearest_stores
from shop.stores.services import load_schedules


@dataclass(frozen=True, slots=True)
class Candidate:
    store_id: int
    distance_m: float
    load: int
    capacity: int
    eta_at: datetime
    is_hq: bool = False

    def as_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "store_id": self.store_id,
            "distance_m": round(self.distance_m),
            "load": self.load,
            "capacity": self.capacity,
            "eta_min": round((self.eta_at - now).total_seconds() / 60, 1),
        }


@dataclass
class Decision:
    """Who qualifies (ranked) and why the others do not: recorded as the `candidates` audit event."""

    now: datetime
    promise_at: datetime
    strategy: str
    ranked: list[Candidate] = field(default_factory=list)
    excluded: dict[int, str] = field(default_factory=dict)
    blocked: list[Candidate] = field(default_factory=list)  # would qualify but for a pause or their load
    looked_at: int = 0
    source: str = "redis+postgres"

    def record(self, lat: float, lng: float, lines: Sequence[tuple[int, int]], limit: int = 20) -> dict[str, Any]:
        return {
            "inputs": {
                "lat": lat,
                "lng": lng,
                "lines": [list(x) for x in lines],
                "now": self.now.isoformat(),
                "promise_at": self.promise_at.isoformat(),
                "strategy": self.strategy,
            },
            "looked_at": self.looked_at,
            "ranked": [c.as_dict(self.now) for c in self.ranked[:limit]],
            "excluded": {str(k): v for k, v in list(self.excluded.items())[:limit]},
        }


_TRUTH = text(
    """
    SELECT s.id, s.status, s.is_partner, s.is_hq, s.urgent_capacity, s.radius_m, s.lat, s.lng,
           coalesce(st.urgent_paused AND (st.paused_until IS NULL OR st.paused_until > :now), false) AS paused,
           (SELECT count(*) FROM dispatches d WHERE d.accepted_store_id = s.id AND d.status = 'accepted') AS load,
           NOT EXISTS (
               SELECT 1 FROM unnest(CAST(:skus AS bigint[]), CAST(:qtys AS bigint[])) AS w(sku_id, qty)
               LEFT JOIN stock_levels l ON l.store_id = s.id AND l.sku_id = w.sku_id
               WHERE coalesce(l.on_hand - l.reserved, 0) + CASE WHEN s.id = :holder THEN w.qty ELSE 0 END < w.qty
           ) AS in_stock
    FROM stores s LEFT JOIN store_dispatch_state st ON st.store_id = s.id
    WHERE s.id = ANY(CAST(:ids AS bigint[]))
    """
)
_ZERO = timedelta(0)
_HQ = text("SELECT id FROM stores WHERE is_hq AND status = 'active'")


async def _truth(
    session: AsyncSession, ids: list[int], lines: Sequence[tuple[int, int]], holder: int | None, now: datetime
) -> dict[int, Any]:
    rows = (
        await session.execute(
            _TRUTH,
            {
                "ids": ids,
                "skus": [x[0] for x in lines],
                "qtys": [x[1] for x in lines],
                "holder": holder or 0,
                "now": now,
            },
        )
    ).all()
    return {r.id: r for r in rows}


def _why_not(row: Any, distance: float, *, feasible: bool, open_ok: Callable[[], bool]) -> str | None:
    """What rules the store out for good (this decision): None when it could take the order."""
    if row.status != "active":
        return "paused by HQ"
    if not row.is_partner and not row.is_hq:
        return "not a partner store"
    if distance > row.radius_m:
        return "address outside its delivery radius"
    if not row.in_stock:
        return "some items out of stock"
    if not feasible:
        return "too far to keep the promise"
    if not open_ok():  # the dearest check last
        return "closed now or before the promise"
    return None


def _busy_now(row: Any, *, check_capacity: bool, check_busy: bool) -> str | None:
    """What rules the store out for the moment only (its staff's pause, its load)."""
    if check_busy and row.paused:
        return "busy: urgent orders paused by its staff"
    if check_capacity and row.load >= row.urgent_capacity:
        return f"at urgent capacity ({row.load}/{row.urgent_capacity})"
    return None


def rank_key(c: Candidate, s: DispatchSettings) -> tuple[float, ...]:
    if s.strategy == "nearest_first":
        return (c.distance_m, c.store_id)
    return (c.distance_m // s.load_band_m, c.load, c.distance_m, c.store_id)


async def find_candidates(
    session: AsyncSession,
    lat: float,
    lng: float,
    lines: Sequence[tuple[int, int]],
    promise_at: datetime,
    *,
    holder_store_id: int | None = None,
    exclude: Collection[int] = (),
    now: datetime | None = None,
    settings: DispatchSettings | None = None,
    structural: bool = False,
) -> Decision:
    """Ranked candidates now (best first); `exclude` are stores already offered this order.

    structural=True leaves out what changes by the minute (load, capacity, busy pauses): the checkout's question.
    """
    s = settings or dispatch_settings()
    now = now or clock.now()
    decision = Decision(now, promise_at, s.strategy)
    limit = min(MAX_LIMIT, s.candidate_limit + len(exclude))
    nearby = await nearest_stores(
        session, lat, lng, limit=limit, open_now=True, delivers_to=True, partner_only=True, at=now
    )
    ids = [n.store_id for n in nearby if n.store_id not in exclude]
    decision.looked_at = len(ids)
    if not ids:
        return decision
    truth = await _truth(session, ids, lines, holder_store_id, now)
    schedules = await load_schedules(session, ids, since=clock.now_shanghai().date())
    check_capacity = s.strategy != "nearest_first" and not structural
    points = sample_points(now, promise_at)
    for store_id in ids:
        row = truth.get(store_id)
        if row is None:
            decision.excluded[store_id] = "no longer exists"
            continue
        distance = haversine_m(lat, lng, row.lat, row.lng)
        feasible = can_make_it(now, distance, promise_at, s)
        why = _why_not(row, distance, feasible=feasible, open_ok=partial(open_at_all, schedules[store_id], points))
        if why is not None:
            decision.excluded[store_id] = why
            continue
        candidate = Candidate(
            store_id, distance, int(row.load), int(row.urgent_capacity), eta(now, distance, s), row.is_hq
        )
        busy = _busy_now(row, check_capacity=check_capacity, check_busy=not structural)
        if busy is not None:
            decision.excluded[store_id] = busy
            decision.blocked.append(candidate)
            continue
        decision.ranked.append(candidate)
    decision.ranked.sort(key=lambda c: rank_key(c, s))
    return decision


@dataclass(frozen=True, slots=True)
class HqOption:
    store_id: int | None
    candidate: Candidate | None
    reason: str  # why HQ cannot, or "ok"


async def hq_option(
    session: AsyncSession,
    lat: float,
    lng: float,
    lines: Sequence[tuple[int, int]],
    promise_at: datetime,
    *,
    holder_store_id: int | None = None,
    now: datetime | None = None,
    settings: DispatchSettings | None = None,
) -> HqOption:
    """Can the HQ store still keep the promise? It is assigned, not asked: no answer time, no radius, no capacity."""
    s = settings or dispatch_settings()
    now = now or clock.now()
    hq = await session.scalar(_HQ)
    if hq is None:
        return HqOption(None, None, "there is no active HQ store")
    row = (await _truth(session, [hq], lines, holder_store_id, now))[hq]
    distance = haversine_m(lat, lng, row.lat, row.lng)
    schedule = (await load_schedules(session, [hq], since=clock.now_shanghai().date()))[hq]
    arrival = eta(now, distance, s, answer_within=_ZERO)
    if not open_through(schedule, now, promise_at):
        return HqOption(hq, None, "the HQ store is closed before the promise")
    if not row.in_stock:
        return HqOption(hq, None, "the HQ store lacks some items")
    if arrival > promise_at:
        late = round((arrival - promise_at).total_seconds() / 60)
        return HqOption(hq, None, f"the HQ store is {distance / 1000:.1f} km away and would be {late} min late")
    return HqOption(hq, Candidate(hq, distance, int(row.load), int(row.urgent_capacity), arrival, True), "ok")
