"""nearest_stores against a brute-force haversine over random stores: PostgreSQL and the Redis mirror agree
with it (and so with each other) for open-now and delivers-to, and the mirror follows changes."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from sqlalchemy import insert

from core import clock
from core.clock import SHANGHAI
from core.db import sessionmaker, unit_of_work
from shop.after_commit import drain
from shop.audit import SYSTEM
from shop.stores import nearest as nearest_module
from shop.stores.geo import haversine_m
from shop.stores.hours import Interval, Schedule, build_schedule, interval_from_text
from shop.stores.mirror import GEO_KEY, rebuild_geo_index
from shop.stores.models import Store, StoreHours, StoreHoursException
from shop.stores.nearest import nearest_stores
from shop.stores.services import delete_store, set_day_exception, update_store

NOW = datetime(2026, 3, 3, 1, 30, tzinfo=SHANGHAI)  # a Tuesday, after midnight: overnight hours matter
HOURS = {
    "24h": [(wd, interval_from_text("00:00", "24:00")) for wd in range(7)],
    "day": [(wd, interval_from_text("08:00", "22:00")) for wd in range(7)],
    "night": [(wd, interval_from_text("20:00", "02:00")) for wd in range(7)],
    "split": [
        (wd, i) for wd in range(7) for i in (interval_from_text("07:00", "11:00"), interval_from_text("13:00", "01:00"))
    ],
    "none": [],
}


@dataclass
class StoreFact:
    id: int
    lat: float
    lng: float
    radius_m: int
    active: bool
    partner: bool
    schedule: Schedule


@pytest.fixture
async def chain(clean: None) -> list[StoreFact]:
    clock.freeze(NOW)
    rng = random.Random(20260303)
    today = NOW.date()
    facts: list[StoreFact] = []
    async with unit_of_work() as s:
        for i in range(300):
            lat, lng = rng.uniform(30.9, 31.5), rng.uniform(121.1, 121.8)
            radius = rng.choice([800, 1500, 3000, 5000, 8000])
            active = rng.random() > 0.1
            partner = rng.random() > 0.5
            sid = await s.scalar(
                insert(Store)
                .values(
                    code=f"R{i:03d}",
                    name=f"随机店{i}",
                    address="",
                    phone="",
                    lat=lat,
                    lng=lng,
                    radius_m=radius,
                    urgent_capacity=1,
                    is_partner=partner,
                    is_hq=False,
                    status="active" if active else "paused",
                    created_at=NOW,
                    updated_at=NOW,
                )
                .returning(Store.id)
            )
            weekly = HOURS[rng.choice(list(HOURS))]
            if weekly:
                await s.execute(
                    insert(StoreHours),
                    [
                        {"store_id": sid, "weekday": wd, "open_min": iv.open_min, "close_min": iv.close_min}
                        for wd, iv in weekly
                    ],
                )
            exceptions: list[tuple[date, Interval | None]] = []
            roll = rng.random()
            if roll < 0.1:
                exceptions = [(today, None)]  # closed today
            elif roll < 0.2:
                exceptions = [(today - timedelta(days=1), None)]  # closed yesterday: no overnight spill
            elif roll < 0.3:
                exceptions = [(today, Interval(60, 180))]  # a special 01:00–03:00 today
            for d, iv in exceptions:
                await s.execute(
                    insert(StoreHoursException).values(
                        store_id=sid, on_date=d, open_min=iv and iv.open_min, close_min=iv and iv.close_min, note=""
                    )
                )
            facts.append(StoreFact(sid, lat, lng, radius, active, partner, build_schedule(weekly, exceptions)))
    assert await rebuild_geo_index() == sum(f.active for f in facts)
    yield facts
    clock.reset()


def brute_force(
    facts: list[StoreFact], lat: float, lng: float, limit: int, open_now: bool, delivers_to: bool
) -> list[tuple[int, float, bool, bool]]:
    out = []
    for f in facts:
        if not f.active:
            continue
        d = haversine_m(lat, lng, f.lat, f.lng)
        is_open = f.schedule.is_open_at(clock.now())
        delivers = d <= f.radius_m
        if (open_now and not is_open) or (delivers_to and not delivers):
            continue
        out.append((f.id, d, is_open, delivers))
    out.sort(key=lambda x: (x[1], x[0]))
    return out[:limit]


async def both_paths(lat: float, lng: float, limit: int, open_now: bool, delivers_to: bool):  # type: ignore[no-untyped-def]
    async with sessionmaker()() as s:
        pg = await nearest_stores(s, lat, lng, limit, open_now, delivers_to, source="postgres")
        rd = await nearest_stores(s, lat, lng, limit, open_now, delivers_to, source="redis")
    return pg, rd


def same(found, expected) -> None:  # type: ignore[no-untyped-def]
    assert [x.store_id for x in found] == [e[0] for e in expected]
    for x, e in zip(found, expected, strict=True):
        assert x.distance_m == pytest.approx(e[1], abs=0.5)
        assert (x.open_now, x.delivers) == (e[2], e[3])


async def test_pg_and_redis_match_brute_force_haversine(chain: list[StoreFact]) -> None:
    rng = random.Random(1)
    checked = 0
    for _ in range(40):
        lat, lng = rng.uniform(30.85, 31.55), rng.uniform(121.05, 121.85)
        for open_now in (False, True):
            for delivers_to in (False, True):
                for limit in (1, 5, 20):
                    expected = brute_force(chain, lat, lng, limit, open_now, delivers_to)
                    pg, rd = await both_paths(lat, lng, limit, open_now, delivers_to)
                    same(pg, expected)
                    same(rd, expected)
                    checked += len(expected)
    assert checked > 2000  # the filters left real work to compare


async def test_far_away_point_still_finds_the_nearest(chain: list[StoreFact]) -> None:
    expected = brute_force(chain, 39.9, 116.4, 3, False, False)  # Beijing: ~1,000 km away
    pg, rd = await both_paths(39.9, 116.4, 3, False, False)
    same(pg, expected)
    same(rd, expected)
    assert await both_paths(39.9, 116.4, 3, False, True) == ([], [])  # nobody delivers that far


async def test_the_mirror_follows_changes_after_commit(chain: list[StoreFact]) -> None:
    lat, lng = 31.2, 121.45
    first = brute_force(chain, lat, lng, 1, False, False)[0][0]
    async with unit_of_work() as s:
        await update_store(s, first, {"status": "paused"}, SYSTEM)
    await drain()
    pg, rd = await both_paths(lat, lng, 5, False, False)
    assert first not in [x.store_id for x in pg] and [x.store_id for x in pg] == [x.store_id for x in rd]

    mover = next(f for f in chain if f.active and f.id != first)
    async with unit_of_work() as s:
        await update_store(s, mover.id, {"lat": lat, "lng": lng + 0.0001}, SYSTEM)
    await drain()
    pg, rd = await both_paths(lat, lng, 1, False, False)
    assert pg[0].store_id == rd[0].store_id == mover.id and rd[0].distance_m < 20

    async with unit_of_work() as s:  # closed today: leaves the open-now answers of both paths
        await set_day_exception(s, mover.id, NOW.date(), None, SYSTEM)
    await drain()
    pg, rd = await both_paths(lat, lng, 3, True, False)
    assert mover.id not in [x.store_id for x in pg] + [x.store_id for x in rd]
    assert [x.store_id for x in pg] == [x.store_id for x in rd]

    async with unit_of_work() as s:
        await delete_store(s, mover.id, SYSTEM)
    await drain()
    pg, rd = await both_paths(lat, lng, 3, False, False)
    assert mover.id not in [x.store_id for x in rd] and [x.store_id for x in pg] == [x.store_id for x in rd]


async def test_without_redis_postgres_answers(chain: list[StoreFact], monkeypatch: pytest.MonkeyPatch) -> None:
    lat, lng = 31.23, 121.47
    expected = brute_force(chain, lat, lng, 5, True, False)
    from core.redis import get_redis

    await get_redis().delete(GEO_KEY, "shop:geo:meta")  # the mirror is not built (yet)
    async with sessionmaker()() as s:
        same(await nearest_stores(s, lat, lng, 5, True), expected)
        with pytest.raises(RuntimeError, match="not built"):
            await nearest_stores(s, lat, lng, 5, True, source="redis")
    down = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(nearest_module, "get_redis", lambda: down)
    monkeypatch.setattr(nearest_module, "_script", None)
    async with sessionmaker()() as s:
        same(await nearest_stores(s, lat, lng, 5, True), expected)


async def test_bad_arguments(clean: None) -> None:
    from core.errors import InvalidInput

    async with sessionmaker()() as s:
        for lat, lng, limit in ((91, 0, 5), (0, 181, 5), (31, 121, 0), (31, 121, 1000)):
            with pytest.raises(InvalidInput):
                await nearest_stores(s, lat, lng, limit)
