"""Push segments: followers of an account, narrowed by customer tag, by region (within N km of a store, by
their last reported location or default address), by last order date and by member level.

A read model across domains: it reads customers/addresses (shop) and paid orders (orders) in one query
rather than one service call per customer; it never writes to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput
from engage.models import Follower
from orders.models import Order
from shop.customers.models import Customer, CustomerAddress
from shop.members.models import MemberCard, MemberLevel
from shop.services import get_store
from shop.stores.geo import EARTH_RADIUS_M

MAX_KM = 500
MAX_DAYS = 3650


@dataclass(frozen=True)
class Segment:
    tags: tuple[str, ...] = ()  # any of these customer tags
    store_id: int | None = None  # with within_km: near this store
    within_km: float | None = None
    ordered_within_days: int | None = None  # paid an order in the last N days
    no_order_within_days: int | None = None  # no paid order in the last N days (lapsed or never)
    member_levels: tuple[str, ...] = ()  # holding a member card at one of these levels (codes)

    def as_json(self) -> dict[str, Any]:
        return {
            "tags": list(self.tags),
            "store_id": self.store_id,
            "within_km": self.within_km,
            "ordered_within_days": self.ordered_within_days,
            "no_order_within_days": self.no_order_within_days,
            "member_levels": list(self.member_levels),
        }


def _days(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise InvalidInput(f"segment.{name} must be a whole number of days from 1 to {MAX_DAYS}")
    return value


def parse_segment(data: Any) -> Segment:
    if not isinstance(data, dict):
        raise InvalidInput("segment must be an object")
    unknown = set(data) - {
        "tags",
        "store_id",
        "within_km",
        "ordered_within_days",
        "no_order_within_days",
        "member_levels",
    }
    if unknown:
        raise InvalidInput(f"unknown segment fields: {', '.join(sorted(unknown))}")
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and 0 < len(t.strip()) <= 32 for t in tags):
        raise InvalidInput("segment.tags must be a list of tags of 1 to 32 characters")
    levels = data.get("member_levels") or []
    if not isinstance(levels, list) or not all(isinstance(x, str) and 0 < len(x) <= 32 for x in levels):
        raise InvalidInput("segment.member_levels must be a list of member level codes")
    store_id, km = data.get("store_id"), data.get("within_km")
    if (store_id is None) != (km is None):
        raise InvalidInput("segment.store_id and segment.within_km go together")
    if store_id is not None and (isinstance(store_id, bool) or not isinstance(store_id, int)):
        raise InvalidInput("segment.store_id must be a store id")
    if km is not None and (isinstance(km, bool) or not isinstance(km, int | float) or not 0 < km <= MAX_KM):
        raise InvalidInput(f"segment.within_km must be more than 0 and at most {MAX_KM}")
    return Segment(
        tags=tuple(sorted({t.strip() for t in tags})),
        store_id=store_id,
        within_km=float(km) if km is not None else None,
        ordered_within_days=_days(data.get("ordered_within_days"), "ordered_within_days"),
        no_order_within_days=_days(data.get("no_order_within_days"), "no_order_within_days"),
        member_levels=tuple(sorted(set(levels))),
    )


def _within(lat: Any, lng: Any, s_lat: float, s_lng: float, metres: float) -> ColumnElement[bool]:
    scale = literal(EARTH_RADIUS_M) / func.earth()
    here = func.ll_to_earth(lat, lng)
    there = func.ll_to_earth(literal(s_lat), literal(s_lng))
    return and_(lat.is_not(None), lng.is_not(None), func.earth_distance(here, there) * scale <= metres)


async def members_query(session: AsyncSession, account_id: int, segment: Segment) -> Any:
    """SELECT customer_id, openid, last_interaction_at of the segment's current followers."""
    where: list[Any] = [Follower.account_id == account_id, Follower.subscribed]
    if segment.tags:
        where.append(Customer.tags.overlap(list(segment.tags)))
    if segment.store_id is not None and segment.within_km is not None:
        store = await get_store(session, segment.store_id)
        metres = segment.within_km * 1000
        address_near = exists().where(
            CustomerAddress.customer_id == Follower.customer_id,
            CustomerAddress.is_default,
            _within(CustomerAddress.lat, CustomerAddress.lng, store.lat, store.lng, metres),
        )
        where.append(or_(_within(Follower.last_lat, Follower.last_lng, store.lat, store.lng, metres), address_near))
    now = clock.now()
    if segment.ordered_within_days is not None:
        since = now - timedelta(days=segment.ordered_within_days)
        where.append(exists().where(Order.customer_id == Follower.customer_id, Order.paid_at >= since))
    if segment.no_order_within_days is not None:
        since = now - timedelta(days=segment.no_order_within_days)
        where.append(~exists().where(Order.customer_id == Follower.customer_id, Order.paid_at >= since))
    if segment.member_levels:
        where.append(
            exists().where(
                MemberCard.customer_id == Follower.customer_id,
                MemberCard.level_id == MemberLevel.id,
                MemberLevel.code.in_(list(segment.member_levels)),
            )
        )
    return (
        select(Follower.customer_id, Follower.openid, Follower.last_interaction_at)
        .join(Customer, Customer.id == Follower.customer_id)
        .where(*where)
        .order_by(Follower.customer_id)
    )


@dataclass(frozen=True)
class Member:
    customer_id: int
    openid: str
    last_interaction_at: datetime | None


async def segment_members(
    session: AsyncSession, account_id: int, segment: Segment, *, limit: int | None = None
) -> list[Member]:
    q = await members_query(session, account_id, segment)
    if limit is not None:
        q = q.limit(limit)
    rows = (await session.execute(q)).all()
    return [Member(int(r.customer_id), str(r.openid), r.last_interaction_at) for r in rows]


async def segment_size(session: AsyncSession, account_id: int, segment: Segment) -> int:
    q = await members_query(session, account_id, segment)
    return int(await session.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0)
