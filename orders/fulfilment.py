"""Fulfilment kinds and their promise: pickup (store, time slot), delivery (within the store's radius), urgent (≤ 60 min).

Urgent feasibility is delivery's call (`core.seams.urgent_feasibility`, registered by the dispatch
domain); until it is registered the default here says yes when an open partner store has the address
within its radius, and promises 20 min plus 8 min per km from that store, at most 60.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, seams

PICKUP_PREP_MIN = 15  # earliest pickup after ordering
PICKUP_MAX_DAYS_AHEAD = 3
DELIVERY_BASE_MIN = 30
DELIVERY_PER_KM_MIN = 6
URGENT_BASE_MIN = 20
URGENT_PER_KM_MIN = 8
URGENT_MAX_MIN = 60


@dataclass(frozen=True, slots=True)
class Promise:
    """Who can do it and by when (urgent: the store dispatch expects to claim it)."""

    minutes: int
    promise_at: datetime
    store_id: int | None = None
    distance_m: float | None = None


def delivery_promise(distance_m: float, now: datetime | None = None) -> Promise:
    now = now or clock.now()
    minutes = DELIVERY_BASE_MIN + DELIVERY_PER_KM_MIN * math.ceil(distance_m / 1000)
    return Promise(minutes, now + timedelta(minutes=minutes), distance_m=distance_m)


def pickup_promise(pickup_at: datetime | None, now: datetime | None = None) -> Promise:
    now = now or clock.now()
    at = pickup_at or now + timedelta(minutes=PICKUP_PREP_MIN)
    return Promise(max(0, math.ceil((at - now).total_seconds() / 60)), at)


def _coerce(found: Any, now: datetime) -> Promise | None:
    """Accept what delivery's can_serve_urgent returns: a Promise-like object or a dict."""
    if found is None or found is False:
        return None
    get = found.get if isinstance(found, dict) else lambda k, d=None: getattr(found, k, d)
    promise_at = get("promise_at")
    minutes = get("minutes")
    if promise_at is None and minutes is not None:
        promise_at = now + timedelta(minutes=int(minutes))
    if promise_at is None:
        promise_at = now + timedelta(minutes=URGENT_MAX_MIN)
    if minutes is None:
        minutes = math.ceil((promise_at - now).total_seconds() / 60)
    return Promise(int(minutes), promise_at, get("store_id"), get("distance_m"))


async def urgent_promise(session: AsyncSession, lat: float, lng: float, lines: Sequence[Any]) -> Promise | None:
    """Can some store deliver to (lat, lng) within the hour, now? None when not."""
    now = clock.now()
    registered = seams.urgent_feasibility()
    if registered is not None:
        return _coerce(await registered(session, lat, lng, list(lines)), now)
    from shop.services import nearest_stores

    found = await nearest_stores(session, lat, lng, limit=1, open_now=True, delivers_to=True, partner_only=True, at=now)
    if not found:
        return None
    store = found[0]
    minutes = min(URGENT_MAX_MIN, URGENT_BASE_MIN + math.ceil(URGENT_PER_KM_MIN * store.distance_m / 1000))
    return Promise(minutes, now + timedelta(minutes=minutes), store.store_id, store.distance_m)
