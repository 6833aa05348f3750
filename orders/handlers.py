"""Orders' reactions to other domains' events (registered at start-up by core.app)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.events import RefundSucceeded, subscribe
from orders.after_sales import mark_refunded


async def on_refund_succeeded(session: AsyncSession, event: RefundSucceeded) -> None:
    await mark_refunded(session, event.refund_id, event.order_id, event.amount_fen)


def register() -> None:
    subscribe(RefundSucceeded, on_refund_succeeded)
