"""Pagination shared by every shop listing: page numbers from 1, a bounded page size, a total."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from core.errors import InvalidInput

T = TypeVar("T")
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


def check_page(page: int, page_size: int, *, max_size: int = MAX_PAGE_SIZE) -> tuple[int, int]:
    """(limit, offset) for a page, or InvalidInput."""
    if page < 1:
        raise InvalidInput("page starts at 1")
    if not 1 <= page_size <= max_size:
        raise InvalidInput(f"page_size must be between 1 and {max_size}")
    if page > 100_000:
        raise InvalidInput("page is too large")
    return page_size, (page - 1) * page_size
