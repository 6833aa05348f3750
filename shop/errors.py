"""Typed errors of the shop domain (stock, stores, catalogue, imports), mapped to HTTP by core.errors."""

from __future__ import annotations

from typing import Any

from core.errors import Conflict, InvalidInput, NotFound


class OutOfStock(Conflict):
    """Not enough available units (on_hand - reserved) at the store; `extra.short` lists what is missing."""

    def __init__(self, store_id: int, short: list[dict[str, int]]) -> None:
        names = ", ".join(f"SKU {s['sku_id']} (wanted {s['wanted']}, available {s['available']})" for s in short)
        super().__init__(f"not enough stock at store {store_id}: {names}", extra={"store_id": store_id, "short": short})
        self.store_id = store_id
        self.short = short


class ReservationNotFound(NotFound):
    """No reservation was ever made under this ref."""


class ReservationStateError(Conflict):
    """The reservation is not in a state that allows this (e.g. committing a released one)."""


class RefReused(Conflict):
    """The ref is already used by a reservation with other lines or another store."""


class StockBelowReserved(Conflict):
    """An adjustment would leave on_hand below what is reserved for orders (or below zero)."""


class ReturnExceedsSold(InvalidInput):
    """Returning more units than were sold (and not yet returned) under the ref."""


class ImportFailed(InvalidInput):
    """A CSV file had errors; nothing of it was written. `errors` lists (line, message)."""

    def __init__(self, errors: list[tuple[int, str]], *, rows: int) -> None:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(
            f"line {first[0]}: {first[1]}{more}; nothing was imported",
            extra={"errors": [{"line": r, "error": m} for r, m in errors[:100]], "rows": rows},
        )
        self.errors = errors
        self.rows = rows


def not_found(what: str, ident: Any) -> NotFound:
    return NotFound(f"{what} {ident} does not exist")
