"""Reading and locking dispatch rows: always the dispatch row first, then its offers, so claims, declines
and deadline timers on the same order serialise on one lock and never deadlock each other."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from delivery.errors import DispatchNotFound, OfferNotFound
from delivery.models import Dispatch, DispatchOffer


async def lock_dispatch(session: AsyncSession, dispatch_id: int) -> Dispatch:
    d = await session.scalar(
        select(Dispatch).where(Dispatch.id == dispatch_id).with_for_update().execution_options(populate_existing=True)
    )
    if d is None:
        raise DispatchNotFound(f"#{dispatch_id}")
    return d


async def dispatch_of_order(session: AsyncSession, order_id: int, *, lock: bool = False) -> Dispatch | None:
    q = select(Dispatch).where(Dispatch.order_id == order_id).execution_options(populate_existing=True)
    if lock:
        q = q.with_for_update()
    return await session.scalar(q)


async def get_offer(session: AsyncSession, offer_id: int) -> DispatchOffer:
    offer = await session.scalar(
        select(DispatchOffer).where(DispatchOffer.id == offer_id).execution_options(populate_existing=True)
    )
    if offer is None:
        raise OfferNotFound(offer_id)
    return offer


async def offer_of_store(session: AsyncSession, dispatch_id: int, store_id: int) -> DispatchOffer | None:
    return await session.scalar(
        select(DispatchOffer)
        .where(DispatchOffer.dispatch_id == dispatch_id, DispatchOffer.store_id == store_id)
        .execution_options(populate_existing=True)
    )


async def offered_store_ids(session: AsyncSession, dispatch_id: int) -> set[int]:
    return set(
        (await session.scalars(select(DispatchOffer.store_id).where(DispatchOffer.dispatch_id == dispatch_id))).all()
    )


async def open_offer_count(session: AsyncSession, dispatch_id: int) -> int:
    from sqlalchemy import func

    return int(
        await session.scalar(
            select(func.count()).where(DispatchOffer.dispatch_id == dispatch_id, DispatchOffer.status == "open")
        )
        or 0
    )


def lines_of(d: Dispatch) -> list[tuple[int, int]]:
    return [(int(x["sku_id"]), int(x["qty"])) for x in d.lines]


def ring_timer_key(dispatch_id: int, ring: int) -> str:
    return f"delivery.ring:{dispatch_id}:{ring}"
