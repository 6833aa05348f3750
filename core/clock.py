"""The one injectable clock: business code asks it for now, tests move it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

_offset = timedelta(0)
_frozen: datetime | None = None


def now() -> datetime:
    """Timezone-aware UTC now, shifted or frozen by tests."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


def now_shanghai() -> datetime:
    return now().astimezone(SHANGHAI)


def advance(delta: timedelta | float) -> datetime:
    """Move the clock forward (seconds or a timedelta) and return the new now."""
    global _offset, _frozen
    if not isinstance(delta, timedelta):
        delta = timedelta(seconds=delta)
    if _frozen is not None:
        _frozen = _frozen + delta
    else:
        _offset += delta
    return now()


def freeze(at: datetime | None = None) -> datetime:
    global _frozen
    _frozen = (at or now()).astimezone(UTC)
    return _frozen


def reset() -> None:
    global _offset, _frozen
    _offset = timedelta(0)
    _frozen = None


def offset_seconds() -> float:
    """Shift from the real clock; shared with the sandbox and the worker in tests."""
    if _frozen is not None:
        return (_frozen - datetime.now(UTC)).total_seconds()
    return _offset.total_seconds()


def set_offset_seconds(seconds: float) -> None:
    global _offset, _frozen
    _frozen = None
    _offset = timedelta(seconds=seconds)
