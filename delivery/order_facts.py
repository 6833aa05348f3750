"""What dispatch needs to know about an order, read in one statement.

orders' OrderState (the seam) lacks the address, the payment time and the handoff code, so this reads
those columns of the orders table, read-only; every change to an order goes through orders' services.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orders.errors import OrderNotFound
from orders.models import Order


@dataclass(frozen=True, slots=True)
class OrderFacts:
    id: int
    public_id: str
    number: str
    kind: str
    status: str
    customer_id: int
    store_id: int
    fulfil_store_id: int | None
    lat: float | None
    lng: float | None
    paid_at: datetime | None
    ready_at: datetime | None
    handoff_code: str


_COLUMNS = (
    Order.id,
    Order.public_id,
    Order.number,
    Order.kind,
    Order.status,
    Order.customer_id,
    Order.store_id,
    Order.fulfil_store_id,
    Order.lat,
    Order.lng,
    Order.paid_at,
    Order.ready_for_fulfilment_at,
    Order.handoff_code,
)


async def order_facts(session: AsyncSession, order_id: int) -> OrderFacts:
    row = (await session.execute(select(*_COLUMNS).where(Order.id == order_id))).first()
    if row is None:
        raise OrderNotFound(order_id)
    return OrderFacts(*row)  # type: ignore[call-arg]


async def order_facts_by_public_id(session: AsyncSession, public_id: str) -> OrderFacts:
    row = (await session.execute(select(*_COLUMNS).where(Order.public_id == public_id))).first()
    if row is None:
        raise OrderNotFound(public_id)
    return OrderFacts(*row)  # type: ignore[call-arg]


@dataclass(frozen=True, slots=True)
class OrderRef:
    """What never changes about an order: cached for the transaction (one dispatch step reads it often)."""

    id: int
    public_id: str
    number: str
    customer_id: int


_REFS = "delivery_order_refs"


async def order_ref(session: AsyncSession, order_id: int) -> OrderRef:
    cache: dict[int, OrderRef] = session.sync_session.info.setdefault(_REFS, {})
    ref = cache.get(order_id)
    if ref is None:
        row = (
            await session.execute(
                select(Order.id, Order.public_id, Order.number, Order.customer_id).where(Order.id == order_id)
            )
        ).first()
        if row is None:
            raise OrderNotFound(order_id)
        ref = cache[order_id] = OrderRef(*row)  # type: ignore[call-arg]
    return ref
