"""B4a nearest stores as a service call: the 20 nearest open stores among 10,000 generated ones, p50/p99 in ms
for the Redis GEO path and the PostgreSQL (earthdistance KNN) path. Own database and Redis db, so the
demo data of the other scenarios is left alone."""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import datetime
from typing import Any

from bench.common import ROOT, create_database, log
from core.clock import SHANGHAI

STORES = 10_000
CALLS = 2_000
LIMIT = 20
DATABASE = "bench_b4a"
DAY = datetime(2026, 3, 3, 10, 30, tzinfo=SHANGHAI)
NIGHT = datetime(2026, 3, 3, 2, 30, tzinfo=SHANGHAI)
REDIS_DB = 7


def _urls() -> tuple[str, str]:
    db = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + f"/{DATABASE}"
    redis_base = os.environ["REDIS_URL"].rstrip("/")
    redis_base = redis_base.rsplit("/", 1)[0] if redis_base.count("/") > 2 else redis_base
    return db, f"{redis_base}/{REDIS_DB}"


async def generate(rng: random.Random) -> None:
    """10,000 active stores over greater Shanghai with a realistic mix of hours (24 h, day, overnight)."""
    from sqlalchemy import insert, text

    from core import clock
    from core.db import unit_of_work
    from shop.stores.hours import interval_from_text
    from shop.stores.models import Store, StoreHours

    kinds = {
        "24h": [("00:00", "24:00")],
        "day": [("08:00", "22:00")],
        "late": [("07:00", "02:00")],
        "split": [("07:30", "11:30"), ("13:00", "21:00")],
    }
    now = clock.now()
    async with unit_of_work() as s:
        for start in range(0, STORES, 1000):
            rows = [
                {
                    "code": f"B{i:05d}",
                    "name": f"门店{i}",
                    "address": "",
                    "phone": "",
                    "lat": rng.uniform(30.7, 31.6),
                    "lng": rng.uniform(121.0, 121.9),
                    "radius_m": rng.choice([1500, 3000, 5000]),
                    "urgent_capacity": 2,
                    "is_partner": rng.random() < 0.7,
                    "is_hq": False,
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(start, start + 1000)
            ]
            ids = (await s.scalars(insert(Store).returning(Store.id, sort_by_parameter_order=True), rows)).all()
            hours = []
            for sid in ids:
                spans = kinds[rng.choices(list(kinds), weights=[2, 5, 2, 1])[0]]
                for wd in range(7):
                    for o, c in spans:
                        iv = interval_from_text(o, c)
                        hours.append(
                            {"store_id": sid, "weekday": wd, "open_min": iv.open_min, "close_min": iv.close_min}
                        )
            await s.execute(insert(StoreHours), hours)
    async with unit_of_work() as s:
        # A live database has statistics (autovacuum); a freshly loaded one must be analysed first.
        await s.execute(text("ANALYZE stores, store_hours, store_hours_exceptions"))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure() -> dict[str, Any]:
    from core.db import dispose_engine, sessionmaker
    from core.redis import close_redis
    from shop.stores.mirror import rebuild_geo_index
    from shop.stores.nearest import nearest_stores

    rng = random.Random(44)
    try:
        await generate(rng)
        t0 = time.perf_counter()
        mirrored = await rebuild_geo_index()
        rebuild_ms = (time.perf_counter() - t0) * 1000
        points = [(rng.uniform(30.75, 31.55), rng.uniform(121.05, 121.85)) for _ in range(CALLS)]
        out: dict[str, Any] = {"stores": mirrored, "rebuild_ms": round(rebuild_ms, 1)}
        async with sessionmaker()() as session:
            # Headline at a fixed daytime moment (most stores open); "night_" when few are (a 24 h minority).
            for prefix, at in (("", DAY), ("night_", NIGHT)):
                for source in ("redis", "postgres"):
                    log(f"B4a: {prefix or 'day_'}{source}")
                    for lat, lng in points[:200]:  # warm-up: connections, plans, parsed schedules
                        await nearest_stores(session, lat, lng, LIMIT, open_now=True, at=at, source=source)  # type: ignore[arg-type]
                    times: list[float] = []
                    found = 0
                    cpu = time.process_time()
                    for lat, lng in points:
                        t = time.perf_counter()
                        result = await nearest_stores(session, lat, lng, LIMIT, open_now=True, at=at, source=source)  # type: ignore[arg-type]
                        times.append((time.perf_counter() - t) * 1000)
                        found += len(result)
                    key = prefix + ("redis" if source == "redis" else "pg")
                    out[f"{key}_p50_ms"] = round(statistics.median(times), 3)
                    out[f"{key}_p99_ms"] = round(pct(times, 99), 3)
                    out[f"{key}_cpu_ms_per_call"] = round((time.process_time() - cpu) * 1000 / len(points), 3)
                    out[f"{key}_avg_results"] = round(found / len(points), 1)
            # The two paths agree on the answer.
            mismatches = 0
            for lat, lng in points[:200]:
                a = await nearest_stores(session, lat, lng, LIMIT, open_now=True, at=DAY, source="redis")
                b = await nearest_stores(session, lat, lng, LIMIT, open_now=True, at=DAY, source="postgres")
                mismatches += [x.store_id for x in a] != [x.store_id for x in b]
            out["path_mismatches"] = mismatches
        out["calls"] = CALLS
        out["limit"] = LIMIT
        out["goal_redis_p99_lt_2ms"] = out["redis_p99_ms"] < 2.0
        return out
    finally:
        await dispose_engine()
        await close_redis()


def run() -> dict[str, Any]:
    from core.settings import reset_settings

    db_url, redis_url = _urls()
    saved = {k: os.environ.get(k) for k in ("DATABASE_URL", "REDIS_URL")}
    log(f"B4a: {STORES:,} generated stores in database {DATABASE}; {CALLS:,} calls per path, nearest {LIMIT} open")
    create_database(DATABASE)
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": redis_url}
    subprocess.run(
        [sys.executable, "-m", "core.cli", "migrate"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )
    os.environ.update({"DATABASE_URL": db_url, "REDIS_URL": redis_url})
    reset_settings()
    try:
        import redis as sync_redis

        sync_redis.Redis.from_url(redis_url).flushdb()
        return asyncio.run(measure())
    finally:
        for k, v in saved.items():
            if v is not None:
                os.environ[k] = v
        reset_settings()
