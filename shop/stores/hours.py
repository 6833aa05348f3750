"""Opening hours in Asia/Shanghai: weekly intervals, dated exceptions, intervals that run past midnight.

An interval is [open_min, close_min) in minutes from the start of its own day; close_min may exceed
1440 (a store open 20:00–02:00 has 1200–1560), so at 01:30 on Tuesday the store is open because of
Monday's interval. A dated exception replaces that date's weekly intervals (none = closed all day).
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from core.clock import SHANGHAI
from core.errors import InvalidInput

DAY = 1440
WEEK = 7 * DAY
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


@dataclass(frozen=True, order=True)
class Interval:
    open_min: int
    close_min: int

    @property
    def overnight(self) -> bool:
        return self.close_min > DAY

    def as_text(self) -> tuple[str, str]:
        return format_hhmm(self.open_min), format_hhmm(self.close_min)


def parse_hhmm(text: str, *, what: str = "time") -> int:
    m = _HHMM.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise InvalidInput(f"{what} must look like 08:30 (24-hour clock), got {text!r}")
    minutes = int(m.group(1)) * 60 + int(m.group(2))
    if minutes > DAY:
        raise InvalidInput(f"{what} {text!r} is past 24:00")
    return minutes


def format_hhmm(minutes: int) -> str:
    """Clock time of a minute offset; 1560 (past midnight) shows as 02:00, 1440 as 24:00."""
    if minutes != DAY:
        minutes %= DAY
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def interval_from_text(opens: str, closes: str) -> Interval:
    """'08:00'–'22:00'; a closing time at or before the opening time means the next day ('20:00'–'02:00')."""
    o = parse_hhmm(opens, what="opening time")
    c = parse_hhmm(closes, what="closing time")
    if o >= DAY:
        raise InvalidInput("opening time must be before 24:00")
    if c == o:
        raise InvalidInput(f"opening and closing time are both {opens}; for 24 hours use 00:00–24:00")
    if c < o:
        c += DAY
    return Interval(o, c)


def check_day_intervals(intervals: Iterable[Interval], *, what: str) -> tuple[Interval, ...]:
    """Sorted, each well-formed, none overlapping another."""
    out = tuple(sorted(intervals))
    for i in out:
        if not (0 <= i.open_min < DAY and i.open_min < i.close_min <= i.open_min + DAY):
            raise InvalidInput(f"{what}: {format_hhmm(i.open_min)}–{format_hhmm(i.close_min)} is not a valid interval")
    for a, b in itertools.pairwise(out):
        if b.open_min < a.close_min:
            raise InvalidInput(f"{what}: overlapping hours {_show(a)} and {_show(b)}")
    return out


def check_weekly(weekly: Iterable[tuple[int, Interval]]) -> list[tuple[int, Interval]]:
    """Weekday intervals must not overlap, including an overnight interval spilling into the next day
    (and Sunday night into Monday)."""
    items = sorted(weekly)
    spans: list[tuple[int, int, int, Interval]] = []
    for weekday, iv in items:
        if not 0 <= weekday <= 6:
            raise InvalidInput(f"weekday must be 0 (Monday) to 6 (Sunday), got {weekday}")
        check_day_intervals([iv], what=WEEKDAYS[weekday])
        start = weekday * DAY + iv.open_min
        spans.append((start, start + iv.close_min - iv.open_min, weekday, iv))
    # Unroll the week once so a Sunday-night interval is compared with Monday morning.
    unrolled = spans + [(s + WEEK, e + WEEK, wd, iv) for s, e, wd, iv in spans]
    unrolled.sort()
    for (_, end1, wd1, iv1), (start2, _, wd2, iv2) in itertools.pairwise(unrolled):
        if start2 < end1:
            raise InvalidInput(f"overlapping hours: {WEEKDAYS[wd1]} {_show(iv1)} and {WEEKDAYS[wd2]} {_show(iv2)}")
    return items


def _show(iv: Interval) -> str:
    o, c = iv.as_text()
    return f"{o}–{c}" + (" (next day)" if iv.overnight else "")


def local_minute(at: datetime) -> tuple[date, date, int]:
    """(today, yesterday, minute of the day) in Asia/Shanghai."""
    local = at.astimezone(SHANGHAI)
    today = local.date()
    return today, today - timedelta(days=1), local.hour * 60 + local.minute


@dataclass(frozen=True)
class Schedule:
    """A store's hours: weekly[0..6] (Monday first) and dated exceptions (empty tuple = closed)."""

    weekly: tuple[tuple[Interval, ...], ...] = ((),) * 7
    exceptions: Mapping[date, tuple[Interval, ...]] = field(default_factory=dict)

    def intervals_on(self, day: date) -> tuple[Interval, ...]:
        found = self.exceptions.get(day)
        return found if found is not None else self.weekly[day.weekday()]

    def is_open_at(self, at: datetime) -> bool:
        return self.is_open_local(*local_minute(at))

    def is_open_local(self, today: date, yesterday: date, minute: int) -> bool:
        """Open at `minute` of `today` (Shanghai): today's intervals, or yesterday's still running."""
        if any(i.open_min <= minute < i.close_min for i in self.intervals_on(today)):
            return True
        return any(minute + DAY < i.close_min for i in self.intervals_on(yesterday))

    @property
    def always_open(self) -> bool:
        return not self.exceptions and all(
            any(i.open_min == 0 and i.close_min >= DAY for i in day) for day in self.weekly
        )

    # Compact form kept in the Redis mirror; parsed once per distinct string.
    def encode(self, *, exceptions_from: date | None = None) -> str:
        w = [[wd, i.open_min, i.close_min] for wd, day in enumerate(self.weekly) for i in day]
        x = {
            d.isoformat(): [[i.open_min, i.close_min] for i in ivs]
            for d, ivs in sorted(self.exceptions.items())
            if exceptions_from is None or d >= exceptions_from
        }
        return json.dumps({"w": w, "x": x}, separators=(",", ":"))


@functools.lru_cache(maxsize=65536)
def decode_schedule(text: str) -> Schedule:
    data = json.loads(text)
    return build_schedule(
        ((wd, Interval(o, c)) for wd, o, c in data["w"]),
        (
            (date.fromisoformat(d), Interval(o, c) if o is not None else None)
            for d, ivs in data["x"].items()
            for o, c in ivs or [[None, None]]
        ),
    )


def build_schedule(
    weekly: Iterable[tuple[int, Interval]], exceptions: Iterable[tuple[date, Interval | None]] = ()
) -> Schedule:
    """From rows: (weekday, interval) and (date, interval or None for closed)."""
    days: list[list[Interval]] = [[] for _ in range(7)]
    for wd, iv in weekly:
        days[wd].append(iv)
    exc: dict[date, list[Interval]] = {}
    for d, maybe in exceptions:
        exc.setdefault(d, [])
        if maybe is not None:
            exc[d].append(maybe)
    return Schedule(
        weekly=tuple(tuple(sorted(d)) for d in days),
        exceptions={d: tuple(sorted(v)) for d, v in exc.items()},
    )
