"""API shapes of stores, hours and nearby results (msgspec: floats refused where integers are meant)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from shop.stores.hours import Interval, Schedule, interval_from_text
from shop.stores.models import Store

Lat = Annotated[float, Meta(ge=-90, le=90, description="latitude, GCJ-02")]
Lng = Annotated[float, Meta(ge=-180, le=180, description="longitude, GCJ-02")]
Radius = Annotated[int, Meta(gt=0, le=100_000, description="delivery radius in metres")]
Capacity = Annotated[int, Meta(ge=0, le=10_000)]
Code = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
Name = Annotated[str, Meta(min_length=1, max_length=100)]
HHMM = Annotated[str, Meta(pattern=r"^([01]\d|2[0-4]):[0-5]\d$", examples=["08:00", "02:00"])]


def changes_of(patch: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body actually sent."""
    return {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not UNSET}


class StoreIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Code
    name: Name
    lat: Lat
    lng: Lng
    radius_m: Radius
    address: Annotated[str, Meta(max_length=300)] = ""
    phone: Annotated[str, Meta(max_length=32)] = ""
    urgent_capacity: Capacity = 0
    is_partner: bool = False
    is_hq: bool = False
    status: Literal["active", "paused"] = "active"


class StorePatch(msgspec.Struct, forbid_unknown_fields=True):
    code: Code | UnsetType = UNSET
    name: Name | UnsetType = UNSET
    lat: Lat | UnsetType = UNSET
    lng: Lng | UnsetType = UNSET
    radius_m: Radius | UnsetType = UNSET
    address: Annotated[str, Meta(max_length=300)] | UnsetType = UNSET
    phone: Annotated[str, Meta(max_length=32)] | UnsetType = UNSET
    urgent_capacity: Capacity | UnsetType = UNSET
    is_partner: bool | UnsetType = UNSET
    is_hq: bool | UnsetType = UNSET
    status: Literal["active", "paused"] | UnsetType = UNSET


class StoreOut(msgspec.Struct):
    id: int
    code: str
    name: str
    address: str
    phone: str
    lat: float
    lng: float
    radius_m: int
    urgent_capacity: int
    is_partner: bool
    is_hq: bool
    status: str

    @classmethod
    def of(cls, s: Store) -> StoreOut:
        return cls(
            s.id,
            s.code,
            s.name,
            s.address,
            s.phone,
            s.lat,
            s.lng,
            s.radius_m,
            s.urgent_capacity,
            s.is_partner,
            s.is_hq,
            s.status,
        )


class StorePage(msgspec.Struct):
    items: list[StoreOut]
    total: int
    page: int
    page_size: int


class IntervalIn(msgspec.Struct, forbid_unknown_fields=True):
    opens: HHMM
    closes: Annotated[str, Meta(description="at or before `opens` means the next day (20:00–02:00)")]

    def interval(self) -> Interval:
        return interval_from_text(self.opens, self.closes)


class WeekdayHoursIn(msgspec.Struct, forbid_unknown_fields=True):
    weekday: Annotated[int, Meta(ge=0, le=6, description="0 = Monday … 6 = Sunday")]
    opens: HHMM
    closes: Annotated[str, Meta(description="at or before `opens` means the next day (20:00–02:00)")]

    def interval(self) -> Interval:
        return interval_from_text(self.opens, self.closes)


class WeeklyHoursIn(msgspec.Struct, forbid_unknown_fields=True):
    weekly: Annotated[list[WeekdayHoursIn], Meta(max_length=50)]


class DayExceptionIn(msgspec.Struct, forbid_unknown_fields=True):
    closed: bool = False
    intervals: Annotated[list[IntervalIn], Meta(max_length=6)] = []
    note: Annotated[str, Meta(max_length=100)] = ""


class IntervalOut(msgspec.Struct):
    opens: str
    closes: str
    overnight: bool

    @classmethod
    def of(cls, iv: Interval) -> IntervalOut:
        o, c = iv.as_text()
        return cls(o, c, iv.overnight)


class WeekdayHoursOut(msgspec.Struct):
    weekday: int
    opens: str
    closes: str
    overnight: bool


class DayExceptionOut(msgspec.Struct):
    date: date
    closed: bool
    intervals: list[IntervalOut]
    note: str = ""


def weekly_out(schedule: Schedule) -> list[WeekdayHoursOut]:
    out = []
    for wd, day in enumerate(schedule.weekly):
        for iv in day:
            o, c = iv.as_text()
            out.append(WeekdayHoursOut(wd, o, c, iv.overnight))
    return out


def exceptions_out(schedule: Schedule, since: date, days: int = 30) -> list[DayExceptionOut]:
    until = since + timedelta(days=days)
    return [
        DayExceptionOut(d, not ivs, [IntervalOut.of(i) for i in ivs])
        for d, ivs in sorted(schedule.exceptions.items())
        if since <= d <= until
    ]


class HoursOut(msgspec.Struct):
    weekly: list[WeekdayHoursOut]
    exceptions: list[DayExceptionOut]
    exceptions_total: int = 0


class StoreDetail(msgspec.Struct):
    store: StoreOut
    open_now: bool
    today: list[IntervalOut]
    weekly: list[WeekdayHoursOut]
    exceptions: list[DayExceptionOut]
    as_of: datetime


class NearbyOut(msgspec.Struct):
    id: int
    code: str
    name: str
    address: str
    phone: str
    lat: float
    lng: float
    distance_m: int
    open_now: bool
    delivers: bool
    radius_m: int
    is_partner: bool
    is_hq: bool


class StaffOut(msgspec.Struct):
    id: int
    username: str
    display_name: str
    role: str
    active: bool
    store_ids: list[int] = []
