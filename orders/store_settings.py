"""Per-store order settings: the unpaid-order deadline and how long after delivery an order completes itself."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput
from orders.models import StoreOrderSettings

DEFAULT_PAYMENT_DEADLINE_MIN = 15
DEFAULT_AUTO_COMPLETE_DAYS = 7


@dataclass(frozen=True, slots=True)
class OrderSettings:
    store_id: int
    payment_deadline_min: int
    auto_complete_days: int


async def get_order_settings(session: AsyncSession, store_id: int) -> OrderSettings:
    row = await session.scalar(select(StoreOrderSettings).where(StoreOrderSettings.store_id == store_id))
    if row is None:
        return OrderSettings(store_id, DEFAULT_PAYMENT_DEADLINE_MIN, DEFAULT_AUTO_COMPLETE_DAYS)
    return OrderSettings(store_id, row.payment_deadline_min, row.auto_complete_days)


async def set_order_settings(
    session: AsyncSession, store_id: int, *, payment_deadline_min: int, auto_complete_days: int
) -> OrderSettings:
    from shop.services import get_store

    await get_store(session, store_id)
    for name, value, lo, hi in (
        ("payment_deadline_min", payment_deadline_min, 1, 120),
        ("auto_complete_days", auto_complete_days, 1, 60),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise InvalidInput(f"{name} must be a whole number from {lo} to {hi}")
    values = {
        "payment_deadline_min": payment_deadline_min,
        "auto_complete_days": auto_complete_days,
        "updated_at": clock.now(),
    }
    await session.execute(
        insert(StoreOrderSettings)
        .values(store_id=store_id, **values)
        .on_conflict_do_update(index_elements=[StoreOrderSettings.store_id], set_=values)
    )
    return OrderSettings(store_id, payment_deadline_min, auto_complete_days)
