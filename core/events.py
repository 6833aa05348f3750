"""Domain events: the shared vocabulary, published inside the current transaction to handlers registered at start-up."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Event:
    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OrderPlaced(Event):
    order_id: int


@dataclass(frozen=True)
class OrderPaid(Event):
    order_id: int
    payment_ref: str
    paid_at: datetime


@dataclass(frozen=True)
class OrderReadyForFulfilment(Event):
    """Paid and, for prescription items, approved: fulfilment or dispatch may start."""

    order_id: int


@dataclass(frozen=True)
class PaymentDeadlineReached(Event):
    order_id: int


@dataclass(frozen=True)
class OrderCancelled(Event):
    order_id: int
    reason: str
    refund_due_fen: int


@dataclass(frozen=True)
class RefundApproved(Event):
    order_id: int
    refund_id: int
    amount_fen: int


@dataclass(frozen=True)
class RefundSucceeded(Event):
    order_id: int
    refund_id: int
    amount_fen: int


@dataclass(frozen=True)
class DispatchAccepted(Event):
    order_id: int
    store_id: int


@dataclass(frozen=True)
class OrderStatusChanged(Event):
    """A fulfilment stage reached through orders.transition (preparing, out_for_delivery, …)."""

    order_id: int
    kind: str  # pickup | delivery | urgent
    to_status: str
    store_id: int  # the fulfilling store


@dataclass(frozen=True)
class OrderDelivered(Event):
    order_id: int


@dataclass(frozen=True)
class CustomerSubscribed(Event):
    customer_id: int
    scene: str | None


@dataclass(frozen=True)
class CouponExpiring(Event):
    """A customer's unused coupon ends soon (shop's reminder sweep); engage sends the reminder."""

    customer_id: int
    coupon_id: int
    title: str
    valid_until: datetime


E = TypeVar("E", bound=Event)
Handler = Callable[[AsyncSession, Any], Awaitable[None]]

_handlers: dict[type[Event], list[Handler]] = defaultdict(list)


def subscribe(event_type: type[E], handler: Callable[[AsyncSession, E], Awaitable[None]]) -> None:
    """Register a handler; registering the same function twice is a no-op (start-up may run twice in tests)."""
    if handler not in _handlers[event_type]:
        _handlers[event_type].append(handler)


def handles(event_type: type[E]) -> Callable[[Callable[[AsyncSession, E], Awaitable[None]]], Any]:
    def decorator(fn: Callable[[AsyncSession, E], Awaitable[None]]) -> Any:
        subscribe(event_type, fn)
        return fn

    return decorator


async def publish(session: AsyncSession, event: Event) -> None:
    """Run every handler of the event in the caller's transaction: they commit or roll back together."""
    log.info("domain_event", name=type(event).__name__, **{k: str(v) for k, v in event.as_dict().items()})
    for handler in list(_handlers.get(type(event), ())):
        await handler(session, event)


def clear_handlers() -> None:
    _handlers.clear()
