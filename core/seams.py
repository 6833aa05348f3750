"""Late-bound seams: services a lower layer calls that a higher layer provides, registered at start-up.

Delivery sits above orders, yet the orders quote must ask delivery whether an urgent order can be
served now (`can_serve_urgent`). Delivery registers its implementation here; until it does, the
caller uses its own simple default.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

# can_serve_urgent(session, lat, lng, lines) -> a promise (store, minutes, promise_at) or None
UrgentFeasibility = Callable[[AsyncSession, float, float, list[Any]], Awaitable[Any | None]]

_urgent_feasibility: UrgentFeasibility | None = None


def register_urgent_feasibility(fn: UrgentFeasibility) -> None:
    global _urgent_feasibility
    _urgent_feasibility = fn


def urgent_feasibility() -> UrgentFeasibility | None:
    return _urgent_feasibility


# has_paid_order(session, customer_id) -> bool: orders registers it; shop's 新人 (first order) coupons ask it.
PaidOrderCheck = Callable[[AsyncSession, int], Awaitable[bool]]

_paid_order_check: PaidOrderCheck | None = None


def register_paid_order_check(fn: PaidOrderCheck) -> None:
    global _paid_order_check
    _paid_order_check = fn


def paid_order_check() -> PaidOrderCheck | None:
    return _paid_order_check
