"""Opening hours: parsing, overlap refusal (including overnight spill), open-at around midnight and exceptions."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from core.clock import SHANGHAI
from core.errors import InvalidInput
from shop.stores.hours import (
    Interval,
    build_schedule,
    check_day_intervals,
    check_weekly,
    decode_schedule,
    format_hhmm,
    interval_from_text,
)

MON, TUE, WED, SUN = 0, 1, 2, 6


def at(day: int, hhmm: str) -> datetime:
    """A Shanghai time in the week of Monday 2026-03-02 (day 0 = Monday)."""
    h, m = map(int, hhmm.split(":"))
    return datetime(2026, 3, 2 + day, h, m, tzinfo=SHANGHAI)


def test_intervals_from_text() -> None:
    assert interval_from_text("08:00", "22:00") == Interval(480, 1320)
    assert interval_from_text("20:00", "02:00") == Interval(1200, 1560)  # past midnight
    assert interval_from_text("00:00", "24:00") == Interval(0, 1440)
    assert interval_from_text("22:00", "00:00") == Interval(1320, 1440)
    assert format_hhmm(1560) == "02:00" and format_hhmm(1440) == "24:00"
    for bad in (
        ("8:00", "22:00"),
        ("08:00", "25:00"),
        ("08:60", "22:00"),
        ("08:00", "08:00"),
        ("24:00", "02:00"),
        ("x", "y"),
    ):
        with pytest.raises(InvalidInput):
            interval_from_text(*bad)


def test_overlaps_are_refused_including_overnight_spill_and_sunday_into_monday() -> None:
    ok = [
        (MON, interval_from_text("08:00", "12:00")),
        (MON, interval_from_text("13:00", "02:00")),
        (TUE, interval_from_text("02:00", "10:00")),
    ]
    assert len(check_weekly(ok)) == 3
    with pytest.raises(InvalidInput, match="overlapping"):
        check_weekly([(MON, interval_from_text("08:00", "12:00")), (MON, interval_from_text("11:00", "14:00"))])
    with pytest.raises(InvalidInput, match="overlapping"):
        check_weekly([(MON, interval_from_text("20:00", "03:00")), (TUE, interval_from_text("02:00", "10:00"))])
    with pytest.raises(InvalidInput, match="overlapping"):
        check_weekly([(SUN, interval_from_text("22:00", "01:00")), (MON, interval_from_text("00:30", "08:00"))])
    with pytest.raises(InvalidInput, match="overlapping"):
        check_day_intervals([Interval(600, 900), Interval(480, 700)], what="2026-10-01")
    with pytest.raises(InvalidInput):
        check_weekly([(7, Interval(0, 60))])


def test_open_around_midnight() -> None:
    s = build_schedule([(MON, interval_from_text("20:00", "02:00")), (TUE, interval_from_text("09:00", "18:00"))])
    assert not s.is_open_at(at(MON, "19:59"))
    assert s.is_open_at(at(MON, "20:00"))
    assert s.is_open_at(at(MON, "23:59"))
    assert s.is_open_at(at(TUE, "00:00"))  # Monday's interval, still running
    assert s.is_open_at(at(TUE, "01:59"))
    assert not s.is_open_at(at(TUE, "02:00"))
    assert not s.is_open_at(at(TUE, "08:59"))
    assert s.is_open_at(at(TUE, "09:00"))
    assert not s.is_open_at(at(TUE, "18:00"))
    assert not s.is_open_at(at(WED, "01:00"))  # Tuesday does not run past midnight
    # The same instant given in UTC.
    assert s.is_open_at(at(TUE, "01:30").astimezone(UTC))  # Monday 17:30 UTC: the zone is Shanghai's, not the input's
    assert not s.is_open_at(at(TUE, "02:30").astimezone(UTC))


def test_24_hours_and_sunday_night_into_monday() -> None:
    s = build_schedule([(wd, interval_from_text("00:00", "24:00")) for wd in range(7)])
    assert s.always_open
    for day in range(7):
        for t in ("00:00", "06:30", "23:59"):
            assert s.is_open_at(at(day, t))
    sun = build_schedule([(SUN, interval_from_text("22:00", "03:00"))])
    assert sun.is_open_at(datetime(2026, 3, 9, 2, 59, tzinfo=SHANGHAI))  # Monday 02:59 after Sunday night
    assert not sun.is_open_at(datetime(2026, 3, 9, 3, 0, tzinfo=SHANGHAI))


def test_exceptions_replace_the_weekday_and_its_overnight_spill() -> None:
    weekly = [(wd, interval_from_text("20:00", "02:00")) for wd in range(7)]
    tue = date(2026, 3, 3)
    mon = date(2026, 3, 2)
    closed_tue = build_schedule(weekly, [(tue, None)])
    assert closed_tue.is_open_at(at(TUE, "01:00"))  # Monday night still runs into Tuesday
    assert not closed_tue.is_open_at(at(TUE, "21:00"))
    assert not closed_tue.is_open_at(at(WED, "01:00"))  # no Tuesday night, so no spill into Wednesday
    closed_mon = build_schedule(weekly, [(mon, None)])
    assert not closed_mon.is_open_at(at(TUE, "01:00"))
    short_tue = build_schedule(weekly, [(tue, Interval(600, 720)), (tue, Interval(780, 900))])
    assert short_tue.is_open_at(at(TUE, "10:30")) and not short_tue.is_open_at(at(TUE, "12:30"))
    assert short_tue.is_open_at(at(TUE, "13:00")) and not short_tue.is_open_at(at(TUE, "21:00"))
    late = build_schedule([], [(tue, Interval(1380, 1500))])  # a one-off night 23:00–01:00
    assert late.is_open_at(at(WED, "00:30")) and not late.is_open_at(at(WED, "01:00"))


def test_encoding_round_trip_for_the_redis_mirror() -> None:
    s = build_schedule(
        [(MON, Interval(480, 1560)), (SUN, Interval(0, 1440))],
        [(date(2026, 10, 1), None), (date(2026, 10, 2), Interval(600, 720)), (date(2025, 1, 1), None)],
    )
    back = decode_schedule(s.encode())
    assert back.weekly == s.weekly and dict(back.exceptions) == dict(s.exceptions)
    recent = decode_schedule(s.encode(exceptions_from=date(2026, 1, 1)))
    assert date(2025, 1, 1) not in recent.exceptions and recent.exceptions[date(2026, 10, 1)] == ()
