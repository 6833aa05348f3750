"""can_serve_urgent: the urgent-feasibility seam orders' quote calls (registered in core.seams at start-up).

Yes when some partner store could take the order now (radius, open until the promise, every line in
stock, near enough) or the HQ store could. Current load and busy pauses are left out on purpose: they
change by the minute, and ring widening or HQ absorb a momentary peak better than a refused checkout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from delivery.candidates import find_candidates, hq_option
from delivery.settings import dispatch_settings


@dataclass(frozen=True, slots=True)
class UrgentPromise:
    store_id: int
    distance_m: float
    minutes: int  # the estimate for the best store
    promise_at: datetime  # the one-hour promise


def _lines(lines: Sequence[Any]) -> list[tuple[int, int]]:
    out = []
    for line in lines:
        if isinstance(line, dict):
            out.append((int(line["sku_id"]), int(line["qty"])))
        elif isinstance(line, (tuple, list)):
            out.append((int(line[0]), int(line[1])))
        else:
            out.append((int(line.sku_id), int(line.qty)))
    return out


async def can_serve_urgent(session: AsyncSession, lat: float, lng: float, lines: Sequence[Any]) -> UrgentPromise | None:
    s = dispatch_settings()
    now = clock.now()
    promise_at = now + timedelta(minutes=s.promise_min)
    wanted = _lines(lines)
    decision = await find_candidates(session, lat, lng, wanted, promise_at, now=now, settings=s, structural=True)
    best = decision.ranked[0] if decision.ranked else None
    if best is None:
        hq = await hq_option(session, lat, lng, wanted, promise_at, now=now, settings=s)
        best = hq.candidate
    if best is None:
        return None
    minutes = min(s.promise_min, math.ceil((best.eta_at - now).total_seconds() / 60))
    return UrgentPromise(best.store_id, best.distance_m, minutes, promise_at)
