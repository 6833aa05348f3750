"""Money: integer fen everywhere; the only place where yuan strings are parsed or printed."""

from __future__ import annotations

import re

_YUAN = re.compile(r"^(?P<sign>-)?(?P<int>\d+)(?:\.(?P<frac>\d{1,2}))?$")


class MoneyError(ValueError):
    """A money value that cannot be taken as given."""


def yuan_to_fen(value: str | int, *, allow_negative: bool = False) -> int:
    """Parse '12', '12.3', '12.34' (or an int number of yuan) into fen.

    Floats are refused: 0.1 + 0.2 is not 0.3, and a price must never depend on that.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise MoneyError(f"amount must be given as a string like '12.34', not a float ({value!r})")
    if isinstance(value, int):
        fen = value * 100
    elif isinstance(value, str):
        text = value.strip().lstrip("`").replace("¥", "").replace(",", "")
        m = _YUAN.match(text)
        if not m:
            raise MoneyError(f"'{value}' is not an amount in yuan with at most 2 decimals (example: 12.34)")
        frac = (m.group("frac") or "").ljust(2, "0")
        fen = int(m.group("int")) * 100 + int(frac or 0)
        if m.group("sign"):
            fen = -fen
    else:
        raise MoneyError(f"amount must be a string, got {type(value).__name__}")
    if fen < 0 and not allow_negative:
        raise MoneyError(f"amount must not be negative ({value})")
    return fen


def fen_to_yuan(fen: int) -> str:
    """12345 -> '123.45' (for bills and display)."""
    if not isinstance(fen, int) or isinstance(fen, bool):
        raise MoneyError(f"fen must be an int, got {type(fen).__name__}")
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def format_yuan(fen: int) -> str:
    """Display form for customers: '¥12.34'."""
    return f"¥{fen_to_yuan(fen)}"


def check_fen(value: object, *, field: str = "amount", allow_negative: bool = False) -> int:
    """Validate an integer fen value arriving from outside (API input)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise MoneyError(f"{field} must be an integer number of fen")
    if value < 0 and not allow_negative:
        raise MoneyError(f"{field} must not be negative")
    return value
