"""Distances on the sphere and coordinate checks (GCJ-02 lat/lng as WeChat reports them)."""

from __future__ import annotations

import math

from core.errors import InvalidInput

# Mean Earth radius. Every distance we show is great-circle distance on this sphere, whichever path
# (PostgreSQL earthdistance or the Redis GEO mirror) found the store.
EARTH_RADIUS_M = 6_371_008.8
# Redis GEO cannot index latitudes beyond ±85.05112878°; stores there are served by PostgreSQL only.
REDIS_MAX_LAT = 85.05112878


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def check_point(lat: object, lng: object) -> tuple[float, float]:
    """A real coordinate pair or InvalidInput naming what is wrong."""
    for name, value, bound in (("lat", lat, 90.0), ("lng", lng, 180.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidInput(f"{name} must be a number")
        if not -bound <= float(value) <= bound:
            raise InvalidInput(f"{name} must be between -{bound:g} and {bound:g}, got {value}")
    return float(lat), float(lng)  # type: ignore[arg-type]
