"""The one-hour promise kept, per store: of the urgent orders promised in a period, how many were delivered
on time (finance and HQ read it next to the money)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_SLA = text(
    """
    SELECT d.accepted_store_id AS store_id, s.name AS store_name, count(*) AS orders,
           count(*) FILTER (WHERE d.delivered_at IS NOT NULL AND d.delivered_at <= d.promise_at) AS on_time,
           count(*) FILTER (WHERE d.delivered_at IS NOT NULL) AS delivered
    FROM dispatches d LEFT JOIN stores s ON s.id = d.accepted_store_id
    WHERE d.promise_at >= :start AND d.promise_at < :end AND (d.delivered_at IS NOT NULL OR d.promise_at < :now)
    GROUP BY d.accepted_store_id, s.name
    ORDER BY count(*) DESC, s.name NULLS LAST
    LIMIT :limit
    """
)


@dataclass(frozen=True)
class StoreSla:
    store_id: int | None  # None: no store took it (HQ fallback failed, refunded)
    store_name: str
    orders: int
    delivered: int
    on_time: int

    @property
    def percent(self) -> float:
        return 100.0 * self.on_time / self.orders if self.orders else 0.0


async def sla_by_store(
    session: AsyncSession, start: datetime, end: datetime, now: datetime, limit: int = 30
) -> list[StoreSla]:
    """Urgent orders promised in [start, end), delivered or past their promise, per claiming store."""
    rows = await session.execute(_SLA, {"start": start, "end": end, "now": now, "limit": limit})
    return [
        StoreSla(r.store_id, r.store_name or "未接单（退款/兜底失败）", int(r.orders), int(r.delivered), int(r.on_time))
        for r in rows
    ]
