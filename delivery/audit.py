"""The dispatch audit trail: one row per decision or action (candidates, offers, claims, rings, stages), with who and when."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, metrics

log = structlog.get_logger(__name__)

SYSTEM = "system:dispatch"


@dataclass(frozen=True)
class Entry:
    kind: str
    actor: str = SYSTEM
    store_id: int | None = None
    offer_id: int | None = None
    ring: int | None = None
    reason: str = ""
    data: Mapping[str, Any] | None = field(default=None)


_INSERT = text(
    """
    INSERT INTO dispatch_events (dispatch_id, order_id, kind, store_id, offer_id, ring, actor, reason, data, at)
    SELECT :dispatch_id, :order_id, e.kind, e.store_id, e.offer_id, e.ring, e.actor, e.reason, e.data, :at
    FROM unnest(CAST(:kinds AS text[]), CAST(:stores AS bigint[]), CAST(:offers AS bigint[]),
                CAST(:rings AS smallint[]), CAST(:actors AS text[]), CAST(:reasons AS text[]), CAST(:datas AS jsonb[]))
         WITH ORDINALITY AS e(kind, store_id, offer_id, ring, actor, reason, data, n)
    ORDER BY e.n
    """
)


async def record(session: AsyncSession, dispatch_id: int, order_id: int, entries: Sequence[Entry]) -> None:
    """Write the entries in one statement, in order, all stamped with the clock's now."""
    if not entries:
        return
    await session.execute(
        _INSERT,
        {
            "dispatch_id": dispatch_id,
            "order_id": order_id,
            "kinds": [e.kind for e in entries],
            "stores": [e.store_id for e in entries],
            "offers": [e.offer_id for e in entries],
            "rings": [e.ring for e in entries],
            "actors": [e.actor[:64] for e in entries],
            "reasons": [e.reason[:300] for e in entries],
            "datas": [json.dumps(dict(e.data), default=str) if e.data is not None else None for e in entries],
            "at": clock.now(),
        },
    )
    for e in entries:
        metrics.DISPATCH.labels(event=e.kind).inc()
        log.info(
            "dispatch_event",
            order_id=order_id,
            dispatch_id=dispatch_id,
            kind=e.kind,
            store_id=e.store_id,
            offer_id=e.offer_id,
            ring=e.ring,
            actor=e.actor,
            reason=e.reason or None,
        )


async def record_one(session: AsyncSession, dispatch_id: int, order_id: int, kind: str, **kw: Any) -> None:
    await record(session, dispatch_id, order_id, [Entry(kind, **kw)])
