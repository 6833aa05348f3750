"""The intent and refund state machines: allowed transitions, and the one way to make one (update + event row)."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from core import clock, metrics
from core.errors import Conflict
from payments.models import PaymentEvent, PaymentIntent, Refund

log = structlog.get_logger(__name__)

# WeChat is the truth about money: a closed or failed intent that WeChat reports paid becomes paid.
INTENT_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "pending": ("paid", "closed", "failed"),
    "closed": ("paid",),
    "failed": ("paid", "closed"),
    "paid": (),
}
REFUND_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "pending": ("processing", "success", "closed", "abnormal", "failed"),
    "processing": ("success", "closed", "abnormal"),
    # ABNORMAL is handled by finance at WeChat's console; WeChat may still report the final outcome.
    "abnormal": ("success", "closed"),
    # Failed: WeChat refused the request; finance may send it again, and WeChat's word still wins.
    "failed": ("pending", "processing", "success", "closed", "abnormal"),
    "success": (),
    "closed": (),
}
REFUND_FINAL = ("success", "closed")


class TransitionRefused(Conflict):
    """The intent or refund is not in a state that allows this step (someone else moved it first)."""


def _check(table: dict[str, tuple[str, ...]], what: str, current: str, to: str) -> None:
    if to not in table.get(current, ()):
        allowed = ", ".join(table.get(current, ())) or "nothing (final)"
        raise TransitionRefused(f"{what} is {current}; it cannot become {to} (allowed next: {allowed})")


async def _transition(
    session: AsyncSession,
    model: type[PaymentIntent] | type[Refund],
    obj: PaymentIntent | Refund,
    to: str,
    actor: str,
    reason: str,
    changes: dict[str, Any],
) -> None:
    now = clock.now()
    current = obj.status
    values = {**changes, "status": to, "updated_at": now}
    moved = (
        update(model)
        .where(model.id == obj.id, model.status == current)
        .values(**values)
        .returning(model.id)
        .cte("moved")
    )
    subject = PaymentEvent.intent_id if model is PaymentIntent else PaymentEvent.refund_id
    event = (
        insert(PaymentEvent)
        .from_select(
            [
                subject,
                PaymentEvent.from_status,
                PaymentEvent.to_status,
                PaymentEvent.actor,
                PaymentEvent.reason,
                PaymentEvent.at,
            ],
            select(moved.c.id, literal(current), literal(to), literal(actor[:64]), literal(reason[:300]), literal(now)),
        )
        .returning(subject)
    )
    done = (await session.execute(event)).scalar_one_or_none()
    if done is None:
        raise TransitionRefused(f"{model.__tablename__} {obj.id} changed meanwhile (was {current}); reload and retry")
    for key, value in values.items():
        set_committed_value(obj, key, value)


async def move_intent(
    session: AsyncSession, intent: PaymentIntent, to: str, *, actor: str, reason: str = "", **changes: Any
) -> None:
    """Move an intent (loaded, preferably locked) to `to`: one conditional UPDATE plus its event row."""
    _check(INTENT_TRANSITIONS, f"payment {intent.out_trade_no}", intent.status, to)
    await _transition(session, PaymentIntent, intent, to, actor, reason, changes)
    metrics.PAYMENTS.labels(event=f"intent_{to}").inc()
    log.info("payment_intent_moved", intent_id=intent.id, out_trade_no=intent.out_trade_no, to=to, reason=reason)


async def move_refund(
    session: AsyncSession, refund: Refund, to: str, *, actor: str, reason: str = "", **changes: Any
) -> None:
    _check(REFUND_TRANSITIONS, f"refund {refund.out_refund_no}", refund.status, to)
    await _transition(session, Refund, refund, to, actor, reason, changes)
    metrics.PAYMENTS.labels(event=f"refund_{to}").inc()
    log.info("refund_moved", refund_id=refund.id, out_refund_no=refund.out_refund_no, to=to, reason=reason)


async def lock_intent(
    session: AsyncSession, *, intent_id: int | None = None, out_trade_no: str | None = None
) -> PaymentIntent | None:
    query = select(PaymentIntent).with_for_update().execution_options(populate_existing=True)
    if intent_id is not None:
        query = query.where(PaymentIntent.id == intent_id)
    else:
        query = query.where(PaymentIntent.out_trade_no == out_trade_no)
    return await session.scalar(query)


async def lock_refund(
    session: AsyncSession, *, refund_id: int | None = None, out_refund_no: str | None = None
) -> Refund | None:
    query = select(Refund).with_for_update().execution_options(populate_existing=True)
    if refund_id is not None:
        query = query.where(Refund.id == refund_id)
    else:
        query = query.where(Refund.out_refund_no == out_refund_no)
    return await session.scalar(query)
