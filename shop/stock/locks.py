"""The one way to lock stock rows: FOR UPDATE in primary-key order (store_id, sku_id), so two
transactions touching the same SKUs (even across stores, as a transfer does) never deadlock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from shop.stock.models import StockLevel


@dataclass(frozen=True, slots=True)
class LockedLevel:
    store_id: int
    sku_id: int
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


async def lock_stock_rows(session: AsyncSession, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], LockedLevel]:
    """Lock the existing stock rows of these (store_id, sku_id) keys; missing rows are simply absent.

    PostgreSQL locks rows as the sorted result is produced (LockRows runs above the Sort), so the
    ORDER BY here is the lock order.
    """
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = (
        await session.execute(
            select(StockLevel.store_id, StockLevel.sku_id, StockLevel.on_hand, StockLevel.reserved)
            .where(tuple_(StockLevel.store_id, StockLevel.sku_id).in_(wanted))
            .order_by(StockLevel.store_id, StockLevel.sku_id)
            .with_for_update()
        )
    ).all()
    return {(r.store_id, r.sku_id): LockedLevel(r.store_id, r.sku_id, r.on_hand, r.reserved) for r in rows}
