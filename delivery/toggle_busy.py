"""The busy toggle: a store's staff pause urgent offers (for a while, or until they switch it back)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput
from delivery.models import StoreDispatchState
from delivery.settings import dispatch_settings
from shop.audit import Actor, record_audit


@dataclass(frozen=True)
class BusyState:
    store_id: int
    busy: bool
    until: datetime | None
    reason: str
    by: str | None


def _view(store_id: int, row: StoreDispatchState | None, now: datetime) -> BusyState:
    if row is None or not row.urgent_paused or (row.paused_until is not None and row.paused_until <= now):
        return BusyState(store_id, False, None, "", row.paused_by if row else None)
    return BusyState(store_id, True, row.paused_until, row.reason, row.paused_by)


async def busy_state(session: AsyncSession, store_id: int) -> BusyState:
    row = await session.scalar(
        select(StoreDispatchState)
        .where(StoreDispatchState.store_id == store_id)
        .execution_options(populate_existing=True)
    )
    return _view(store_id, row, clock.now())


async def set_busy(
    session: AsyncSession, store_id: int, busy: bool, actor: Actor, *, minutes: int | None = None, reason: str = ""
) -> BusyState:
    """busy=True pauses urgent offers for `minutes` (default and at most DISPATCH_BUSY_MAX_MIN); False resumes."""
    s = dispatch_settings()
    now = clock.now()
    if busy:
        if minutes is None:
            minutes = s.busy_max_min
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= s.busy_max_min:
            raise InvalidInput(f"minutes must be a whole number from 1 to {s.busy_max_min}")
    reason = (reason or "").strip()[:200]
    before = await busy_state(session, store_id)
    values = {
        "urgent_paused": busy,
        "paused_until": now + timedelta(minutes=minutes) if busy and minutes else None,
        "paused_by": actor.label,
        "reason": reason if busy else "",
        "updated_at": now,
    }
    await session.execute(
        insert(StoreDispatchState)
        .values(store_id=store_id, **values)
        .on_conflict_do_update(index_elements=[StoreDispatchState.store_id], set_=values)
    )
    after = await busy_state(session, store_id)
    await record_audit(
        session,
        actor,
        "store.urgent_busy",
        "store",
        store_id,
        store_id=store_id,
        before={"busy": before.busy},
        after={"busy": after.busy, "until": after.until.isoformat() if after.until else None},
        reason=reason,
    )
    return after
