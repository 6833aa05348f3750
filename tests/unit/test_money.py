"""Money parsing: strict yuan strings to integer fen, never floats."""

import pytest

from core.money import MoneyError, check_fen, fen_to_yuan, format_yuan, yuan_to_fen


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("0", 0),
        ("0.01", 1),
        ("0.1", 10),
        ("12", 1200),
        ("12.3", 1230),
        ("12.34", 1234),
        ("`12.34", 1234),  # trade bills prefix every field with a backtick
        (" 1,234.50 ", 123450),
        ("¥9.90", 990),
        (7, 700),
    ],
)
def test_yuan_to_fen_accepts(text: str | int, fen: int) -> None:
    assert yuan_to_fen(text) == fen


@pytest.mark.parametrize("bad", ["12.345", "abc", "", "1.", ".5", "1e3", "12,3.4.5", "--1", "1 2"])
def test_yuan_to_fen_rejects_malformed(bad: str) -> None:
    with pytest.raises(MoneyError):
        yuan_to_fen(bad)


def test_floats_are_refused() -> None:
    with pytest.raises(MoneyError, match="float"):
        yuan_to_fen(0.1)  # type: ignore[arg-type]


def test_negatives_only_when_allowed() -> None:
    with pytest.raises(MoneyError, match="negative"):
        yuan_to_fen("-1.00")
    assert yuan_to_fen("-1.05", allow_negative=True) == -105


@pytest.mark.parametrize(
    ("fen", "text"), [(0, "0.00"), (1, "0.01"), (1234, "12.34"), (-5, "-0.05"), (100000, "1000.00")]
)
def test_fen_to_yuan(fen: int, text: str) -> None:
    assert fen_to_yuan(fen) == text
    assert yuan_to_fen(text, allow_negative=True) == fen


def test_format_and_check() -> None:
    assert format_yuan(990) == "¥9.90"
    assert check_fen(5) == 5
    for bad in (1.5, True, "5", -1):
        with pytest.raises(MoneyError):
            check_fen(bad)
