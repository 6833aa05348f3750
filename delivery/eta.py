"""The ETA model: can a store at some distance still keep the promise? Pure functions over the settings."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from delivery.settings import DispatchSettings
from shop.stores.hours import Schedule, local_minute

_STEP = timedelta(minutes=5)


def eta(now: datetime, distance_m: float, s: DispatchSettings, *, answer_within: timedelta | None = None) -> datetime:
    """When the goods would reach the customer from a store at `distance_m` that is asked now.

    `answer_within` is how long the store may take to claim (the offer deadline; zero for HQ, which is assigned).
    """
    wait = answer_within if answer_within is not None else timedelta(seconds=s.offer_deadline_s)
    minutes = s.prep_estimate_min + s.travel_min(distance_m) + s.handoff_min
    return now + wait + timedelta(minutes=minutes)


def can_make_it(now: datetime, distance_m: float, promise_at: datetime, s: DispatchSettings, **kw: object) -> bool:
    return eta(now, distance_m, s, **kw) <= promise_at  # type: ignore[arg-type]


def sample_points(start: datetime, end: datetime) -> list[tuple[date, date, int]]:
    """Shanghai (today, yesterday, minute) at `start`, every 5 minutes, and at `end`: computed once per decision."""
    points = []
    at = start
    while at < end:
        points.append(local_minute(at))
        at += _STEP
    points.append(local_minute(max(start, end)))
    return points


def open_at_all(schedule: Schedule, points: list[tuple[date, date, int]]) -> bool:
    """Open at every sampled point (hours are whole minutes; no store closes for less than 5)."""
    return schedule.always_open or all(schedule.is_open_local(*p) for p in points)


def open_through(schedule: Schedule, start: datetime, end: datetime) -> bool:
    """Open at `start`, at `end` and at every 5 minutes between."""
    return open_at_all(schedule, sample_points(start, end))
