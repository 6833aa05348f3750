"""Delivery with proof: the customer's handoff code (wrong codes logged and rate-limited), an optional photo,
then the order is delivered; the OrderDelivered handler closes the dispatch's SLA clock."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput
from core.events import publish
from delivery.advance_stage import claimed_dispatch
from delivery.audit import SYSTEM, Entry, record
from delivery.errors import StageNotAllowed, TooManyHandoffAttempts
from delivery.events import DispatchStageChanged
from delivery.live import publish_after_commit
from delivery.models import DispatchEvent
from delivery.order_facts import order_facts
from delivery.repository import dispatch_of_order
from delivery.settings import dispatch_settings
from orders.transition_order import transition

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class HandoffResult:
    delivered: bool
    attempts_left: int


def _check_photo(url: str | None) -> str | None:
    if url is None or not url.strip():
        return None
    url = url.strip()
    if len(url) > 500 or not url.startswith(("https://", "http://")):
        raise InvalidInput("proof_photo_url must be an http(s) URL of at most 500 characters")
    return url


async def deliver_with_code(
    session: AsyncSession,
    order_id: int,
    code: str,
    *,
    actor: str,
    store_id: int | None = None,
    proof_photo_url: str | None = None,
) -> HandoffResult:
    """Hand over: a matching code delivers the order; a wrong one is recorded (and counts towards the pause).

    A wrong code is a result, not an exception, so the attempt's record commits with the request.
    """
    code = (code or "").strip()
    if not code or not code.isdigit() or len(code) > 8:
        raise InvalidInput("handoff_code must be the digits shown in the customer's order")
    photo = _check_photo(proof_photo_url)
    d = await claimed_dispatch(session, order_id, store_id)
    facts = await order_facts(session, order_id)
    if facts.status != "out_for_delivery":
        raise StageNotAllowed(
            f"order {facts.number} is {facts.status}; mark it out for delivery before handing it over",
            extra={"status": facts.status},
        )
    s = dispatch_settings()
    now = clock.now()
    since = now - timedelta(minutes=s.handoff_window_min)
    failures, oldest = (
        await session.execute(
            select(func.count(), func.min(DispatchEvent.at)).where(
                DispatchEvent.dispatch_id == d.id, DispatchEvent.kind == "handoff_failed", DispatchEvent.at >= since
            )
        )
    ).one()
    if failures >= s.handoff_max_failures:
        retry = int((oldest + timedelta(minutes=s.handoff_window_min) - now).total_seconds()) + 1
        log.warning("handoff_rate_limited", order_id=order_id, failures=failures, actor=actor)
        raise TooManyHandoffAttempts(retry)
    if not secrets.compare_digest(code.encode(), facts.handoff_code.encode()):
        await record(
            session,
            d.id,
            d.order_id,
            [Entry("handoff_failed", actor=actor, store_id=d.accepted_store_id, data={"attempt": failures + 1})],
        )
        log.warning("handoff_code_wrong", order_id=order_id, actor=actor, attempt=failures + 1)
        return HandoffResult(False, s.handoff_max_failures - failures - 1)
    d.proof_photo_url = photo
    await record(
        session,
        d.id,
        d.order_id,
        [
            Entry(
                "handoff_verified",
                actor=actor,
                store_id=d.accepted_store_id,
                data={"proof_photo_url": photo} if photo else None,
            )
        ],
    )
    await transition(session, order_id, "delivered", actor, "handed over with the customer's code")
    return HandoffResult(True, s.handoff_max_failures - failures)


async def mark_delivered(session: AsyncSession, order_id: int) -> None:
    """OrderDelivered (whoever delivered it): the dispatch closes and frees the store's capacity."""
    d = await dispatch_of_order(session, order_id, lock=True)
    if d is None or d.status != "accepted":
        return
    now = clock.now()
    d.status = "delivered"
    d.delivered_at = now
    d.closed_at = now
    d.updated_at = now
    await session.flush()
    await record(
        session, d.id, d.order_id, [Entry("stage", actor=SYSTEM, store_id=d.accepted_store_id, reason="delivered")]
    )
    await publish(
        session, DispatchStageChanged(order_id=order_id, stage="delivered", store_id=d.accepted_store_id, at=now)
    )
    assert d.accepted_store_id is not None
    publish_after_commit(session, d.accepted_store_id, "stage", {"order_id": order_id, "stage": "delivered"})
