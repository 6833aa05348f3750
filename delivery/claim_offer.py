"""Claiming an offer: first claim wins. One conditional update takes the dispatch (offering → accepted)
while the offer is open and before its deadline; a partial unique index allows one accepted offer per
order; the reservation moves to the claiming store (or the claim fails cleanly); the other offers are
withdrawn and their stores told; DispatchAccepted moves the money from HQ clearing in the ledger."""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, jobs
from core.events import DispatchAccepted, publish
from delivery.audit import Entry, record
from delivery.errors import AlreadyTaken, ClaimWithoutStock, NotOffered, OfferClosed, StoreAtCapacity
from delivery.events import DispatchStageChanged
from delivery.live import publish_after_commit
from delivery.models import Dispatch, DispatchOffer
from delivery.order_facts import order_facts, order_ref
from delivery.repository import dispatch_of_order, get_offer, lock_dispatch, offer_of_store, ring_timer_key
from delivery.withdraw_offers import withdraw_open_offers
from orders.transition_order import accept_order
from shop.errors import OutOfStock

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ClaimResult:
    order_id: int
    store_id: int
    offer_id: int
    withdrawn_stores: list[int] = field(default_factory=list)


_TAKE = text(
    """
    UPDATE dispatches SET status = 'accepted', accepted_store_id = :store, accepted_at = :now, updated_at = :now
    WHERE id = :d AND status = 'offering'
    RETURNING id
    """
)
# Locks the store's row (created on first use) so two claims by one store for two orders count its load in turn.
_LOCK_STORE = text(
    """
    INSERT INTO store_dispatch_state (store_id, urgent_paused, reason, updated_at) VALUES (:store, false, '', :now)
    ON CONFLICT (store_id) DO UPDATE SET store_id = EXCLUDED.store_id
    RETURNING store_id
    """
)
_LOAD = text(
    """
    SELECT s.urgent_capacity,
           (SELECT count(*) FROM dispatches d WHERE d.accepted_store_id = s.id AND d.status = 'accepted') AS load
    FROM stores s WHERE s.id = :store
    """
)
_ACCEPT_OFFER = text(
    """
    UPDATE dispatch_offers SET status = 'accepted', answered_at = :now, answered_by = :user
    WHERE id = :offer AND status = 'open' AND deadline_at > :now
    RETURNING id
    """
)


async def claim_offer(
    session: AsyncSession, offer_id: int, *, actor: str, user_id: int | None = None, check_capacity: bool = True
) -> ClaimResult:
    """The offer's store takes the order, or a typed error says why not (and nothing changed).

    The dispatch row is locked first (as every path locks it), so the offer is read after any claim,
    decline or deadline that got there first has committed.
    """
    offer = await get_offer(session, offer_id)
    d = await lock_dispatch(session, offer.dispatch_id)
    now = clock.now()
    if d.status != "offering":
        await explain_refusal(session, await get_offer(session, offer.id))
    if await session.scalar(_ACCEPT_OFFER, {"offer": offer.id, "now": now, "user": user_id}) is None:
        await explain_refusal(session, await get_offer(session, offer.id))
    await session.execute(_TAKE, {"d": d.id, "store": offer.store_id, "now": now})
    if check_capacity:
        await session.execute(_LOCK_STORE, {"store": offer.store_id, "now": now})
        cap = (await session.execute(_LOAD, {"store": offer.store_id})).one()
        if cap.load > cap.urgent_capacity:  # the load counts this dispatch already
            raise StoreAtCapacity(
                f"store {offer.store_id} already has {cap.load - 1} urgent order(s) on the way, its capacity is "
                f"{cap.urgent_capacity}; finish one first or ask HQ to raise the capacity",
                extra={"load": cap.load - 1, "capacity": cap.urgent_capacity},
            )
    d = await lock_dispatch(session, d.id)  # reload what _TAKE wrote
    withdrawn = await assign_store(session, d, offer.store_id, offer.id, actor=actor, ring=offer.ring)
    return ClaimResult(d.order_id, offer.store_id, offer.id, withdrawn)


async def claim_for_store(
    session: AsyncSession, order_id: int, store_id: int, *, actor: str, user_id: int | None = None
) -> ClaimResult:
    """Claim by order and store (the console's button on an order): the store must have been offered it."""
    d = await dispatch_of_order(session, order_id)
    offer = await offer_of_store(session, d.id, store_id) if d is not None else None
    if offer is None:
        facts = await order_facts(session, order_id)
        raise NotOffered(store_id, facts.number)
    return await claim_offer(session, offer.id, actor=actor, user_id=user_id)


async def assign_store(
    session: AsyncSession, d: Dispatch, store_id: int, offer_id: int, *, actor: str, ring: int
) -> list[int]:
    """The dispatch (already marked accepted) hands the order to the store: reservation moved, order accepted,
    other offers withdrawn, timer cancelled, DispatchAccepted published. Raises ClaimWithoutStock."""
    now = clock.now()
    facts = await order_ref(session, d.order_id)
    try:
        await accept_order(session, d.order_id, store_id, actor, f"claimed by store {store_id}")
    except OutOfStock as exc:
        raise ClaimWithoutStock(
            f"store {store_id} does not have every item of order {facts.number} any more: {exc.detail}; "
            "the offer stays open for the other stores",
            extra=exc.extra,
        ) from None
    await jobs.cancel(session, ring_timer_key(d.id, d.ring))
    await record(
        session,
        d.id,
        d.order_id,
        [Entry("offer_claimed", actor=actor, store_id=store_id, offer_id=offer_id, ring=ring)],
    )
    withdrawn = await withdraw_open_offers(
        session, d, f"已被其他门店接单 (order {facts.number} was taken by another store)"
    )
    await publish(session, DispatchAccepted(order_id=d.order_id, store_id=store_id))
    await publish(session, DispatchStageChanged(order_id=d.order_id, stage="accepted", store_id=store_id, at=now))
    publish_after_commit(
        session, store_id, "claimed", {"offer_id": offer_id, "order_id": facts.public_id, "number": facts.number}
    )
    log.info("dispatch_claimed", order_id=d.order_id, store_id=store_id, offer_id=offer_id, actor=actor)
    return withdrawn


async def explain_refusal(session: AsyncSession, offer: DispatchOffer) -> None:
    """Why this claim cannot win, as the error a person can act on."""
    d = await session.get(Dispatch, offer.dispatch_id, populate_existing=True)
    facts = await order_ref(session, offer.order_id)
    number = facts.number
    if offer.status == "accepted" or (
        d is not None and d.status in ("accepted", "delivered") and d.accepted_store_id == offer.store_id
    ):
        raise AlreadyTaken(number, by_you=True)
    if d is not None and d.status in ("accepted", "delivered"):
        raise AlreadyTaken(number)
    if d is not None and d.status in ("cancelled", "failed"):
        raise OfferClosed(f"order {number} was cancelled; there is nothing to claim", extra={"reason": "cancelled"})
    if offer.status == "declined":
        raise OfferClosed(
            f"your store declined order {number}; it cannot claim it any more", extra={"reason": "declined"}
        )
    if offer.status == "expired" or offer.deadline_at <= clock.now():
        at = offer.deadline_at.astimezone(clock.SHANGHAI).strftime("%H:%M:%S")
        raise OfferClosed(
            f"the offer for order {number} expired at {at}; it can no longer be claimed", extra={"reason": "expired"}
        )
    raise OfferClosed(
        f"the offer for order {number} is {offer.status}; reload the offers", extra={"reason": offer.status}
    )
