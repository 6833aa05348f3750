"""The Redis GEO mirror of active stores: a fast path for nearest-store queries, rebuilt from PostgreSQL.

Keys: a GEO set of store ids, a hash id -> "lat,lng,radius_m,flags|schedule", and a meta hash
(ready, max_radius). Changes reach it after their transaction commits (shop.after_commit) and again
through a durable job, so a Redis outage at that moment heals when Redis is back; `rebuild_geo_index`
at start replaces everything from PostgreSQL. Without `ready` the readers use PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, jobs
from core.db import sessionmaker
from core.redis import get_redis
from shop.after_commit import after_commit
from shop.stores.geo import REDIS_MAX_LAT
from shop.stores.hours import Schedule
from shop.stores.models import Store

log = structlog.get_logger(__name__)

GEO_KEY = "shop:geo:stores"
INFO_KEY = "shop:geo:info"
META_KEY = "shop:geo:meta"
SYNC_JOB = "shop.sync_geo"

FLAG_PARTNER = 1
FLAG_HQ = 2


def entry(store: Store, schedule: Schedule) -> str:
    flags = (FLAG_PARTNER if store.is_partner else 0) | (FLAG_HQ if store.is_hq else 0)
    since = clock.now_shanghai().date() - timedelta(days=1)
    return f"{store.lat!r},{store.lng!r},{store.radius_m},{flags}|{schedule.encode(exceptions_from=since)}"


def mirrored(store: Store) -> bool:
    return store.status == "active" and abs(store.lat) <= REDIS_MAX_LAT


async def _load(session: AsyncSession, store_ids: Iterable[int] | None) -> tuple[list[Store], dict[int, Schedule]]:
    from shop.stores.services import load_schedules

    q = select(Store).where(Store.status == "active")
    if store_ids is not None:
        q = select(Store).where(Store.id.in_(list(store_ids)))
    stores = list((await session.scalars(q)).all())
    schedules = await load_schedules(session, [s.id for s in stores], since=clock.now_shanghai().date())
    return stores, schedules


async def rebuild_geo_index() -> int:
    """Replace the mirror with what PostgreSQL holds (call at app start); returns the stores mirrored."""
    async with sessionmaker()() as session:
        stores, schedules = await _load(session, None)
    stores = [s for s in stores if mirrored(s)]
    redis = get_redis()
    tmp_geo, tmp_info = GEO_KEY + ":building", INFO_KEY + ":building"
    async with redis.pipeline(transaction=False) as pipe:
        pipe.delete(tmp_geo, tmp_info)
        for i in range(0, len(stores), 1000):
            chunk = stores[i : i + 1000]
            pipe.geoadd(tmp_geo, [v for s in chunk for v in (s.lng, s.lat, str(s.id))])
            pipe.hset(tmp_info, mapping={str(s.id): entry(s, schedules[s.id]) for s in chunk})
        await pipe.execute()
    max_radius = max((s.radius_m for s in stores), default=0)
    async with redis.pipeline(transaction=True) as pipe:
        if stores:
            pipe.rename(tmp_geo, GEO_KEY)
            pipe.rename(tmp_info, INFO_KEY)
        else:
            pipe.delete(GEO_KEY, INFO_KEY)
        pipe.hset(META_KEY, mapping={"ready": "1", "max_radius": str(max_radius), "built_at": clock.now().isoformat()})
        await pipe.execute()
    log.info("geo_index_rebuilt", stores=len(stores), max_radius=max_radius)
    return len(stores)


async def sync_stores(store_ids: Iterable[int]) -> None:
    """Bring these stores' mirror entries in line with PostgreSQL (added, updated or removed)."""
    ids = sorted(set(store_ids))
    if not ids:
        return
    async with sessionmaker()() as session:
        stores, schedules = await _load(session, ids)
    keep = {s.id: s for s in stores if mirrored(s)}
    gone = [str(i) for i in ids if i not in keep]
    redis = get_redis()
    async with redis.pipeline(transaction=True) as pipe:
        if keep:
            pipe.geoadd(GEO_KEY, [v for s in keep.values() for v in (s.lng, s.lat, str(s.id))])
            pipe.hset(INFO_KEY, mapping={str(s.id): entry(s, schedules[s.id]) for s in keep.values()})
        if gone:
            pipe.zrem(GEO_KEY, *gone)
            pipe.hdel(INFO_KEY, *gone)
        await pipe.execute()
    if keep:
        # The max radius only grows here (a smaller radius leaves a safe over-estimate until a rebuild).
        biggest = max(s.radius_m for s in keep.values())
        current = await redis.hget(META_KEY, "max_radius")
        if current is None or int(current) < biggest:
            await redis.hset(META_KEY, "max_radius", str(biggest))


async def mark_store_changed(session: AsyncSession, store_id: int) -> None:
    """Call in the transaction that changes a store's location, radius, flags, status or hours."""
    after_commit(session, ("geo", store_id), lambda: sync_stores([store_id]))
    # The durable copy of the same work, for when Redis is unreachable right after the commit.
    await jobs.enqueue(session, SYNC_JOB, {"store_ids": [store_id]}, delay=timedelta(seconds=5))
