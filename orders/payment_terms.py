"""payment_terms: what payments needs to collect and account an order's money, read-only, in one row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from orders.errors import OrderNotFound


@dataclass(frozen=True, slots=True)
class PaymentTerms:
    id: int
    number: str
    kind: str
    status: str
    customer_id: int
    store_id: int
    fulfil_store_id: int | None
    payment_deadline_at: datetime
    items_fen: int
    discount_fen: int
    delivery_fee_fen: int
    urgent_fee_fen: int
    total_fen: int
    stored_value_fen: int
    cash_due_fen: int
    paid_fen: int
    refunded_fen: int
    coupon_id: int | None
    member_card_id: int | None
    payment_ref: str | None

    @property
    def fees_fen(self) -> int:
        return self.delivery_fee_fen + self.urgent_fee_fen


_TERMS = text(
    """
    SELECT id, number, kind, status, customer_id, store_id, fulfil_store_id, payment_deadline_at, items_fen,
           discount_fen, delivery_fee_fen, urgent_fee_fen, total_fen, stored_value_fen, cash_due_fen, paid_fen,
           refunded_fen, coupon_id, member_card_id, payment_ref
    FROM orders WHERE id = :id
    """
)


async def payment_terms(session: AsyncSession, order_id: int) -> PaymentTerms:
    row = (await session.execute(_TERMS, {"id": order_id})).first()
    if row is None:
        raise OrderNotFound(order_id)
    return PaymentTerms(*row)
