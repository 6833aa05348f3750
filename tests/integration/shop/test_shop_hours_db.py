"""Opening hours as PostgreSQL evaluates them (the nearest-store truth) equal the Python schedule, minute by
minute around midnight and dated exceptions; the API refuses overlapping hours and writes nothing."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import httpx

from core.clock import SHANGHAI
from core.db import sessionmaker, unit_of_work
from shop.audit import SYSTEM
from shop.stores.hours import Interval, interval_from_text
from shop.stores.nearest import open_in_postgres
from shop.stores.services import load_schedules, set_day_exception, set_weekly_hours
from tests.integration.shop.conftest import bearer, count, make_store, make_user

MONDAY = date(2026, 3, 2)


async def open_in_sql(store_id: int, at: datetime) -> bool:
    async with sessionmaker()() as s:
        return (await open_in_postgres(s, [store_id], at))[store_id]


async def test_sql_and_python_agree_around_midnight_and_exceptions(clean: None) -> None:
    store = await make_store("N1")
    async with unit_of_work() as s:
        await set_weekly_hours(
            s,
            store,
            [
                (0, interval_from_text("20:00", "02:00")),  # Monday night into Tuesday
                (1, interval_from_text("09:00", "12:00")),
                (1, interval_from_text("13:00", "18:00")),
                (4, interval_from_text("10:00", "24:00")),
                (5, interval_from_text("00:00", "24:00")),
                (6, interval_from_text("22:00", "03:00")),  # Sunday night into next Monday
            ],
            SYSTEM,
        )
        await set_day_exception(s, store, MONDAY + timedelta(days=9), None, SYSTEM, note="closed Wednesday")
        await set_day_exception(
            s, store, MONDAY + timedelta(days=7), [Interval(1380, 1530)], SYSTEM, note="23:00–01:30"
        )
        await set_day_exception(s, store, MONDAY + timedelta(days=13), None, SYSTEM, note="Sunday closed")
    async with sessionmaker()() as s:
        schedule = (await load_schedules(s, [store]))[store]
    start = datetime.combine(MONDAY, datetime.min.time(), SHANGHAI)
    seen = {True: 0, False: 0}
    t = start
    while t < start + timedelta(days=15):
        expected = schedule.is_open_at(t)
        assert await open_in_sql(store, t) == expected, t
        seen[expected] += 1
        t += timedelta(minutes=30 if t.hour not in (0, 1, 2, 3, 19, 20, 23) else 1)
    assert seen[True] > 100 and seen[False] > 100
    # The cases in words.
    assert await open_in_sql(store, datetime(2026, 3, 3, 1, 59, tzinfo=SHANGHAI))
    assert not await open_in_sql(store, datetime(2026, 3, 3, 2, 0, tzinfo=SHANGHAI))
    assert await open_in_sql(store, datetime(2026, 3, 10, 1, 29, tzinfo=SHANGHAI))  # Monday's exception spills
    assert not await open_in_sql(store, datetime(2026, 3, 9, 20, 30, tzinfo=SHANGHAI))  # replaced by 23:00
    assert not await open_in_sql(store, datetime(2026, 3, 16, 2, 0, tzinfo=SHANGHAI))  # Sunday closed: no spill


async def test_overlapping_or_malformed_hours_are_refused_and_nothing_changes(client: httpx.AsyncClient) -> None:
    store = await make_store("H1", hours="08:00-22:00")
    admin = bearer("user", await make_user("boss", "admin"), "admin")
    url = f"/api/admin/stores/{store}/hours"
    bad_bodies = [
        {
            "weekly": [
                {"weekday": 0, "opens": "08:00", "closes": "12:00"},
                {"weekday": 0, "opens": "11:00", "closes": "14:00"},
            ]
        },
        {
            "weekly": [
                {"weekday": 0, "opens": "20:00", "closes": "03:00"},
                {"weekday": 1, "opens": "02:00", "closes": "10:00"},
            ]
        },
        {
            "weekly": [
                {"weekday": 6, "opens": "22:00", "closes": "01:00"},
                {"weekday": 0, "opens": "00:30", "closes": "08:00"},
            ]
        },
        {"weekly": [{"weekday": 7, "opens": "08:00", "closes": "12:00"}]},
        {"weekly": [{"weekday": 0, "opens": "8:00", "closes": "12:00"}]},
        {"weekly": [{"weekday": 0, "opens": "08:00", "closes": "08:00"}]},
        {"weekly": [{"weekday": 0, "opens": "08:00", "closes": "25:00"}]},
    ]
    before = await count("store_hours", "store_id = :s", s=store)
    for body in bad_bodies:
        r = await client.put(url, json=body, headers=admin)
        assert r.status_code in (400, 422), (body, r.text)
        assert r.json()["detail"]
    assert await count("store_hours", "store_id = :s", s=store) == before == 7
    assert await count("shop_audit_log", "action = 'store.hours'") == 1  # only the factory's
    r = await client.put(
        url,
        json={"weekly": [{"weekday": wd, "opens": "20:00", "closes": "02:00"} for wd in range(7)]},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert r.json()["weekly"][0] == {"weekday": 0, "opens": "20:00", "closes": "02:00", "overnight": True}
    r = await client.put(
        f"{url}/exceptions/2026-10-01",
        json={"intervals": [{"opens": "10:00", "closes": "12:00"}, {"opens": "11:00", "closes": "13:00"}]},
        headers=admin,
    )
    assert r.status_code == 400 and "overlapping" in r.json()["detail"]
    r = await client.put(f"{url}/exceptions/2026-10-01", json={}, headers=admin)
    assert r.status_code == 400
    assert await count("store_hours_exceptions") == 0
    r = await client.put(f"{url}/exceptions/2026-10-01", json={"closed": True, "note": "国庆"}, headers=admin)
    assert r.status_code == 200 and r.json()["closed"] is True
    hours = (await client.get(url, headers=admin)).json()
    assert len(hours["weekly"]) == 7
