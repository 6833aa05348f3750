"""nearest_stores: PostgreSQL (earthdistance KNN over a GiST index) is the truth; the Redis GEO mirror is the fast path."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

import structlog
from redis.exceptions import RedisError
from sqlalchemy import ARRAY, BigInteger, Boolean, Date, Float, Integer, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput
from core.redis import get_redis
from shop import after_commit
from shop.stores.geo import EARTH_RADIUS_M, REDIS_MAX_LAT, check_point
from shop.stores.hours import Schedule, decode_schedule, local_minute
from shop.stores.mirror import FLAG_HQ, FLAG_PARTNER, GEO_KEY, INFO_KEY, META_KEY

log = structlog.get_logger(__name__)

Source = Literal["auto", "redis", "postgres"]
MAX_LIMIT = 200
_FIRST_RADIUS_M = 3000
_WHOLE_EARTH_M = 20_000_000


@dataclass(frozen=True, slots=True)
class NearbyStore:
    store_id: int
    distance_m: float
    open_now: bool
    delivers: bool  # the point lies within the store's delivery radius
    radius_m: int
    is_partner: bool
    is_hq: bool
    lat: float
    lng: float


async def nearest_stores(
    session: AsyncSession,
    lat: float,
    lng: float,
    limit: int = 10,
    open_now: bool = False,
    delivers_to: bool = False,
    *,
    partner_only: bool = False,
    at: datetime | None = None,
    source: Source = "auto",
) -> list[NearbyStore]:
    """Active stores nearest to (lat, lng), closest first, with great-circle distance in metres.

    open_now keeps stores open at `at` (default: now); delivers_to keeps stores whose delivery radius
    covers the point; partner_only keeps stores that take dispatched orders. "auto" uses the Redis
    mirror when it is ready and reachable, PostgreSQL otherwise.
    """
    lat, lng = check_point(lat, lng)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    at = at or clock.now()
    if source != "postgres" and abs(lat) <= REDIS_MAX_LAT:
        # Mirror updates run after their commit; let this process's in-flight ones land first, so a
        # request that follows a store change in the same process reads what it wrote.
        await after_commit.drain()
        try:
            found = await _nearest_redis(lat, lng, limit, open_now, delivers_to, partner_only, at)
        except RedisError as exc:
            if source == "redis":
                raise
            log.warning("nearest_redis_unavailable", error=type(exc).__name__)
            found = None
        if found is not None:
            return found
        if source == "redis":
            raise RuntimeError("the Redis store mirror is not built; call rebuild_geo_index()")
    return await _nearest_pg(session, lat, lng, limit, open_now, delivers_to, partner_only, at)


# --- PostgreSQL ------------------------------------------------------------------------------------------


# The SQL truth of Schedule.is_open_at for the rows of `near`: today's intervals (a dated exception replaces
# the weekday's) or yesterday's running past midnight. LATERAL aggregates run per row as index probes,
# whatever the planner estimates (EXISTS subplans get hashed over the whole hours table when it expects
# many rows). Times are parameters: the clock is the application's.
_OPEN_NOW = """
    CASE WHEN coalesce(dated.today, false) THEN coalesce(dated.today_open, false)
         ELSE coalesce(hours.today, false) END
    OR CASE WHEN coalesce(dated.yesterday, false) THEN coalesce(dated.spill, false)
         ELSE coalesce(hours.spill, false) END
"""
_OPEN_JOINS = """
    CROSS JOIN LATERAL (
        SELECT bool_or(h.weekday = :wd AND h.open_min <= :minute AND h.close_min > :minute) AS today,
               bool_or(h.weekday = :pwd AND h.close_min > :minute + 1440) AS spill
        FROM store_hours h WHERE h.store_id = near.id AND h.weekday IN (:wd, :pwd)
    ) hours
    CROSS JOIN LATERAL (
        SELECT bool_or(e.on_date = :today) AS today,
               bool_or(e.on_date = :today AND e.open_min <= :minute AND e.close_min > :minute) AS today_open,
               bool_or(e.on_date = :yesterday) AS yesterday,
               bool_or(e.on_date = :yesterday AND e.close_min > :minute + 1440) AS spill
        FROM store_hours_exceptions e WHERE e.store_id = near.id AND e.on_date IN (:today, :yesterday)
    ) dated
"""

# The `count` nearest active stores passing the cheap filters (KNN over the GiST index on ll_to_earth),
# then the open flag on that LIMITed set only. earthdistance's sphere has radius earth() (6378168 m):
# distances are rescaled to the radius used everywhere else.
_NEAREST = text(
    f"""
    WITH here AS (SELECT ll_to_earth(:lat, :lng) AS p, CAST(:radius AS float8) / earth() AS scale),
    near AS (
        SELECT s.id, s.lat, s.lng, s.radius_m, s.is_partner, s.is_hq,
               earth_distance(here.p, ll_to_earth(s.lat, s.lng)) * here.scale AS distance_m
        FROM stores s, here
        WHERE s.status = 'active'
          AND (NOT :partner_only OR s.is_partner)
          AND (NOT :delivers_to OR (
                earth_box(here.p, (SELECT coalesce(max(radius_m), 0) FROM stores WHERE status = 'active') / here.scale)
                    @> ll_to_earth(s.lat, s.lng)
                AND earth_distance(here.p, ll_to_earth(s.lat, s.lng)) * here.scale <= s.radius_m))
        ORDER BY ll_to_earth(s.lat, s.lng) <-> here.p, s.id
        LIMIT :count
    )
    SELECT near.*, {_OPEN_NOW} AS open_now
    FROM near {_OPEN_JOINS}
    ORDER BY near.distance_m, near.id
    """
).bindparams(
    bindparam("lat", type_=Float),
    bindparam("lng", type_=Float),
    bindparam("radius", type_=Float),
    bindparam("partner_only", type_=Boolean),
    bindparam("delivers_to", type_=Boolean),
    bindparam("count", type_=Integer),
    bindparam("minute", type_=Integer),
    bindparam("wd", type_=Integer),
    bindparam("pwd", type_=Integer),
    bindparam("today", type_=Date),
    bindparam("yesterday", type_=Date),
)

_OPEN_OF = text(
    f"""
    SELECT near.id, {_OPEN_NOW} AS open_now
    FROM (SELECT id FROM stores WHERE id = ANY(:ids)) near {_OPEN_JOINS}
    """
).bindparams(
    bindparam("ids", type_=ARRAY(BigInteger)),
    bindparam("minute", type_=Integer),
    bindparam("wd", type_=Integer),
    bindparam("pwd", type_=Integer),
    bindparam("today", type_=Date),
    bindparam("yesterday", type_=Date),
)


def _time_params(at: datetime) -> dict[str, object]:
    today, yesterday, minute = local_minute(at)
    return {
        "minute": minute,
        "wd": today.weekday(),
        "pwd": yesterday.weekday(),
        "today": today,
        "yesterday": yesterday,
    }


async def open_in_postgres(session: AsyncSession, store_ids: list[int], at: datetime) -> dict[int, bool]:
    """Whether each store is open at `at`, as PostgreSQL decides it."""
    rows = (await session.execute(_OPEN_OF, {"ids": list(store_ids), **_time_params(at)})).all()
    return {r.id: bool(r.open_now) for r in rows}


async def _nearest_pg(
    session: AsyncSession,
    lat: float,
    lng: float,
    limit: int,
    open_now: bool,
    delivers_to: bool,
    partner_only: bool,
    at: datetime,
) -> list[NearbyStore]:
    params = {
        "lat": lat,
        "lng": lng,
        "radius": EARTH_RADIUS_M,
        "partner_only": partner_only,
        "delivers_to": delivers_to,
        **_time_params(at),
    }
    count = limit * 2 + 8 if open_now else limit
    while True:
        rows = (await session.execute(_NEAREST, {**params, "count": count})).all()
        found = [
            NearbyStore(
                store_id=r.id,
                distance_m=float(r.distance_m),
                open_now=bool(r.open_now),
                delivers=float(r.distance_m) <= r.radius_m,
                radius_m=r.radius_m,
                is_partner=r.is_partner,
                is_hq=r.is_hq,
                lat=r.lat,
                lng=r.lng,
            )
            for r in rows
            if r.open_now or not open_now
        ]
        # Enough, or every store passing the cheap filters was a candidate already.
        if len(found) >= limit or len(rows) < count:
            return found[:limit]
        share = max(len(found), 1) / max(len(rows), 1)
        count = max(count * 2, int(limit / share * 1.5) + 10)


# --- Redis -----------------------------------------------------------------------------------------------

# One round trip: candidates nearest first (widening the radius until enough or the limit), then their entries.
_SEARCH = """
local meta = redis.call('HMGET', KEYS[3], 'ready', 'max_radius')
if not meta[1] then return false end
local want = tonumber(ARGV[3])
local r = tonumber(ARGV[4])
local rmax = tonumber(ARGV[5])
if ARGV[6] == '1' then
  -- Redis measures on a slightly larger sphere (and quantised points): search a little wider, filter exactly.
  rmax = math.min(rmax, (tonumber(meta[2]) or 0) * 1.005 + 10)
  if r > rmax then r = rmax end
end
if rmax <= 0 then return {{}, {}} end
local ids
while true do
  ids = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2], 'BYRADIUS', r, 'm', 'ASC', 'COUNT', want)
  if #ids >= want or r >= rmax then break end
  r = math.min(r * 4, rmax)
end
if #ids == 0 then return {ids, {}} end
return {ids, redis.call('HMGET', KEYS[2], unpack(ids))}
"""
_script = None


def _search_script():  # type: ignore[no-untyped-def]
    global _script
    redis = get_redis()
    if _script is None or _script.registered_client is not redis:
        _script = redis.register_script(_SEARCH)
    return _script


async def _nearest_redis(
    lat: float,
    lng: float,
    limit: int,
    open_now: bool,
    delivers_to: bool,
    partner_only: bool,
    at: datetime,
) -> list[NearbyStore] | None:
    filtered = open_now or delivers_to or partner_only
    # A few spare candidates even unfiltered: Redis orders by its own (quantised) distances.
    want = limit * 2 + 8 if filtered else limit + 4
    today, yesterday, minute = local_minute(at)
    phi, lam = math.radians(lat), math.radians(lng)
    cos_phi = math.cos(phi)
    # Stores of a chain share a handful of schedules, and decode_schedule returns one object per distinct
    # schedule: decide each once per query.
    open_by_schedule: dict[int, bool] = {}
    script = _search_script()
    while True:
        reply = await script(
            keys=[GEO_KEY, INFO_KEY, META_KEY],
            args=[repr(lng), repr(lat), want, _FIRST_RADIUS_M, _WHOLE_EARTH_M, "1" if delivers_to else "0"],
        )
        if not reply:
            return None
        ids, infos = reply
        found: list[tuple[float, int, _Entry, bool]] = []
        for raw_id, info in zip(ids, infos, strict=True):
            if info is None:  # removed between the two commands of a sync; PostgreSQL would not show it either
                continue
            entry = _entry(info)
            if partner_only and not entry.flags & FLAG_PARTNER:
                continue
            is_open = open_by_schedule.get(id(entry.schedule))
            if is_open is None:
                is_open = open_by_schedule[id(entry.schedule)] = entry.schedule.is_open_local(today, yesterday, minute)
            if open_now and not is_open:
                continue
            # Haversine with the store's half precomputed (the same formula as geo.haversine_m).
            a = math.sin((entry.phi - phi) / 2) ** 2 + cos_phi * entry.cos_phi * math.sin((entry.lam - lam) / 2) ** 2
            distance = 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))
            if delivers_to and distance > entry.radius_m:
                continue
            found.append((distance, int(raw_id), entry, is_open))
        if len(found) >= limit or len(ids) < want:
            found.sort(key=lambda x: (x[0], x[1]))
            return [
                NearbyStore(
                    store_id=store_id,
                    distance_m=distance,
                    open_now=is_open,
                    delivers=distance <= e.radius_m,
                    radius_m=e.radius_m,
                    is_partner=bool(e.flags & FLAG_PARTNER),
                    is_hq=bool(e.flags & FLAG_HQ),
                    lat=e.lat,
                    lng=e.lng,
                )
                for distance, store_id, e, is_open in found[:limit]
            ]
        # Ask for enough candidates at the share that passed the filters (at night few stores are open).
        share = max(len(found), 1) / max(len(ids), 1)
        want = max(want * 2, int(limit / share * 1.5) + 10)


class _Entry(NamedTuple):
    lat: float
    lng: float
    radius_m: int
    flags: int
    schedule: Schedule
    phi: float
    lam: float
    cos_phi: float


@functools.lru_cache(maxsize=65536)
def _entry(info: bytes) -> _Entry:
    """A mirror entry parsed once per distinct value (entries change only when the store does)."""
    head, _, schedule = info.decode().partition("|")
    s_lat, s_lng, radius, flags = head.split(",")
    lat, lng = float(s_lat), float(s_lng)
    phi = math.radians(lat)
    return _Entry(lat, lng, int(radius), int(flags), decode_schedule(schedule), phi, math.radians(lng), math.cos(phi))
