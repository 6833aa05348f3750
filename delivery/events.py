"""Dispatch's own domain events, for the layers above (engage tells the customer, web refreshes pages).

The shared vocabulary lives in core.events (DispatchAccepted, OrderDelivered, OrderCancelled are
published from there); these add what only dispatch knows. They are published in the dispatch's
transaction with core.events.publish, like every other event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.events import Event


@dataclass(frozen=True)
class DispatchStarted(Event):
    order_id: int
    promise_at: datetime


@dataclass(frozen=True)
class DispatchStageChanged(Event):
    """accepted, preparing, out_for_delivery, delivered: what the customer's order page and messages show."""

    order_id: int
    stage: str
    store_id: int | None
    at: datetime


@dataclass(frozen=True)
class DispatchFellBack(Event):
    """No partner store took the order in time: the HQ store delivers it."""

    order_id: int
    store_id: int


@dataclass(frozen=True)
class DispatchFailed(Event):
    """Nobody can deliver within the hour: the order was cancelled with a full refund; tell the customer now.

    apology_coupon_id is None when no coupon could be issued yet (the intent is in the audit trail).
    """

    order_id: int
    customer_id: int
    reason: str
    apology_coupon_id: int | None


@dataclass(frozen=True)
class DispatchAtRisk(Event):
    """The SLA monitor found the order late for a stage (claim, out, delivered); HQ staff are told."""

    order_id: int
    check: str
    minutes_since_paid: int
