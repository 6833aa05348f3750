"""Follower state per customer: following or not, the 48 h window, the last location WeChat reported."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from engage.models import Follower

# User actions that open WeChat's 48 h customer-service window (VIEW and LOCATION reports do not).
WINDOW_EVENTS = frozenset({"subscribe", "SCAN", "CLICK"})


async def follower_for_update(
    session: AsyncSession, *, account_id: int, customer_id: int, openid: str, now: datetime
) -> Follower:
    """The customer's follower row, created on first sight, locked for this transaction."""
    await session.execute(
        pg_insert(Follower)
        .values(
            customer_id=customer_id,
            account_id=account_id,
            openid=openid,
            subscribed=False,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[Follower.customer_id])
    )
    follower = await session.scalar(
        select(Follower)
        .where(Follower.customer_id == customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert follower is not None
    return follower


async def get_follower(session: AsyncSession, customer_id: int) -> Follower | None:
    return await session.get(Follower, customer_id)


async def last_location(session: AsyncSession, customer_id: int) -> tuple[float, float] | None:
    row = (
        await session.execute(select(Follower.last_lat, Follower.last_lng).where(Follower.customer_id == customer_id))
    ).first()
    if row is None or row.last_lat is None or row.last_lng is None:
        return None
    return float(row.last_lat), float(row.last_lng)
