"""The fallback when no ring is left or the promise cannot wait for another: the HQ store if it can still make
it (assigned, not asked), otherwise cancel with a full refund, an apology coupon, and the customer told now."""

from __future__ import annotations

import importlib
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.events import publish
from delivery.audit import SYSTEM, Entry, record
from delivery.candidates import hq_option
from delivery.claim_offer import assign_store
from delivery.errors import ClaimWithoutStock
from delivery.events import DispatchFailed, DispatchFellBack
from delivery.models import Dispatch
from delivery.notify_staff import hq_card, tell_hq
from delivery.order_facts import order_ref
from delivery.repository import lines_of
from delivery.withdraw_offers import close_dispatch
from orders.cancel_order import cancel_order

log = structlog.get_logger(__name__)

# HQ's offer row: ring 0, accepted at once (the partial unique index still guards the order).
_HQ_OFFER = text(
    """
    INSERT INTO dispatch_offers (dispatch_id, order_id, store_id, ring, rank, distance_m, status, sent_at,
                                 deadline_at, answered_at)
    VALUES (:d, :order_id, :store, 0, 0, :distance, 'accepted', :now, :now, :now)
    ON CONFLICT (dispatch_id, store_id) DO UPDATE
        SET status = 'accepted', ring = 0, answered_at = :now, decline_reason = NULL
    RETURNING id
    """
)
_TAKE_FOR_HQ = text(
    """
    UPDATE dispatches SET status = 'accepted', accepted_store_id = :store, accepted_at = :now, fallback = 'hq',
                          updated_at = :now
    WHERE id = :d AND status IN ('pending', 'offering')
    RETURNING id
    """
)
# Where the coupon issue's seam may live (shop owns coupons); the first one found is used.
_COUPON_SEAMS = (("shop.discounts", "issue_apology_coupon"), ("shop.coupons.services", "issue_apology_coupon"))


async def fall_back(session: AsyncSession, d: Dispatch, *, why: str) -> str:
    """HQ or cancel; the caller holds the dispatch lock. Returns "hq" or "failed"."""
    now = clock.now()
    option = await hq_option(
        session, d.lat, d.lng, lines_of(d), d.promise_at, holder_store_id=d.origin_store_id, now=now
    )
    if option.candidate is not None:
        try:
            async with session.begin_nested():
                await _give_to_hq(session, d, option.candidate.store_id, option.candidate.distance_m, why)
            return "hq"
        except ClaimWithoutStock as exc:  # stock moved since the check: HQ cannot either
            option = type(option)(option.store_id, None, f"the HQ store lacks some items ({exc.detail})")
        await session.refresh(d)
    await _fail(session, d, why=why, hq_reason=option.reason)
    return "failed"


async def _give_to_hq(session: AsyncSession, d: Dispatch, hq: int, distance_m: float, why: str) -> None:
    now = clock.now()
    if await session.scalar(_TAKE_FOR_HQ, {"d": d.id, "store": hq, "now": now}) is None:
        return
    offer_id = int(
        await session.scalar(
            _HQ_OFFER, {"d": d.id, "order_id": d.order_id, "store": hq, "distance": round(distance_m), "now": now}
        )
    )
    await session.refresh(d)
    await record(session, d.id, d.order_id, [Entry("fallback_hq", store_id=hq, offer_id=offer_id, reason=why)])
    await assign_store(session, d, hq, offer_id, actor=SYSTEM, ring=0)
    facts = await order_ref(session, d.order_id)
    await publish(session, DispatchFellBack(order_id=d.order_id, store_id=hq))
    await tell_hq(
        session,
        "fallback_hq",
        hq_card(facts.number, "请总部门店配送", f"没有合作门店接单（{why}），订单已转由总部门店配送", facts.public_id),
        {"order_id": facts.public_id, "number": facts.number, "reason": why},
        key=f"fallback:{d.id}",
    )
    log.warning("dispatch_fallback_hq", order_id=d.order_id, store_id=hq, why=why)


async def _fail(session: AsyncSession, d: Dispatch, *, why: str, hq_reason: str) -> None:
    facts = await order_ref(session, d.order_id)
    reason = f"附近门店暂时无法在一小时内送达，订单已取消并全额退款 (no store could deliver within the hour: {why}; {hq_reason})"
    d.fallback = "cancelled"
    await close_dispatch(session, d, "failed", reason)  # first: our own OrderCancelled handler then sees it closed
    await cancel_order(session, d.order_id, SYSTEM, reason[:300])
    coupon_id = await _apology_coupon(session, d, facts.customer_id, reason)
    await publish(
        session,
        DispatchFailed(order_id=d.order_id, customer_id=facts.customer_id, reason=reason, apology_coupon_id=coupon_id),
    )
    await tell_hq(
        session,
        "dispatch_failed",
        hq_card(facts.number, "急送订单无法履约", f"已取消并全额退款：{why}；{hq_reason}", facts.public_id),
        {"order_id": facts.public_id, "number": facts.number, "reason": why},
        key=f"failed:{d.id}",
    )
    log.warning("dispatch_failed", order_id=d.order_id, why=why, hq=hq_reason)


def _coupon_seam() -> Any | None:
    for module_name, attr in _COUPON_SEAMS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue
            raise
        fn = getattr(module, attr, None)
        if fn is not None:
            return fn
    return None


async def _apology_coupon(session: AsyncSession, d: Dispatch, customer_id: int, reason: str) -> int | None:
    """Issue the apology coupon through the coupon seam; until it exists, record that one is owed."""
    issue = _coupon_seam()
    if issue is None:
        await record(
            session,
            d.id,
            d.order_id,
            [
                Entry(
                    "apology_coupon_owed",
                    reason="the coupon seam is not available yet",
                    data={"customer_id": customer_id},
                )
            ],
        )
        return None
    coupon = await issue(session, customer_id, d.order_id, reason)
    coupon_id = getattr(coupon, "id", coupon)
    await record(
        session, d.id, d.order_id, [Entry("apology_coupon", data={"customer_id": customer_id, "coupon_id": coupon_id})]
    )
    return int(coupon_id) if coupon_id is not None else None
