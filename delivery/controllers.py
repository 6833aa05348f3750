"""Dispatch HTTP routes (thin): staff offers, claims, declines, stages, handoff, busy toggle, timeline; the customer's view."""

from __future__ import annotations

from typing import Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.auth import Principal, customer_guard, require_principal, roles_guard
from core.db import DbSession
from delivery import services
from delivery.errors import DispatchNotFound, TooManyHandoffAttempts, WrongHandoffCode
from delivery.live import offers_stream
from delivery.order_facts import OrderFacts, order_facts, order_facts_by_public_id
from delivery.queries import delivery_out, involved_store_ids, require_dispatch
from delivery.repository import get_offer
from delivery.schemas import (
    BusyIn,
    BusyOut,
    ClaimIn,
    ClaimOut,
    CourierIn,
    CustomerDispatchOut,
    DeclineIn,
    DeclineOut,
    DeliverIn,
    DeliveryOut,
    OfferOut,
    StageIn,
    TimelineOut,
)
from shop.access import actor_of, authorize_store, visible_store_ids

Req = Request[Any, Any, Any]


def actor(p: Principal) -> str:
    return f"{p.kind}:{p.id}"


async def _stores(session: AsyncSession, p: Principal, store_id: int | None) -> list[int] | None:
    if store_id is not None:
        await authorize_store(session, p, store_id, "read")
        return [store_id]
    return await visible_store_ids(session, p)


async def _claimed(session: AsyncSession, p: Principal, order_id: str) -> tuple[OrderFacts, int]:
    """The order and its claiming store, which this user must work at (admins act for every store)."""
    facts = await order_facts_by_public_id(session, order_id)
    d = await require_dispatch(session, facts)
    if d.accepted_store_id is None:
        if p.role != "admin" and not set(await visible_store_ids(session, p) or []) & await involved_store_ids(
            session, facts.id
        ):
            raise DispatchNotFound(order_id)
        return facts, 0
    await authorize_store(session, p, d.accepted_store_id, "operate")
    return facts, d.accepted_store_id


async def _delivery(session: AsyncSession, facts: OrderFacts) -> DeliveryOut:
    d = await require_dispatch(session, facts)
    await session.refresh(d)
    status = (await order_facts_by_public_id(session, facts.public_id)).status
    return delivery_out(d, facts.public_id, facts.number, status, clock.now())


class StaffDispatchController(Controller):
    path = "/api/staff"
    tags = ["dispatch (staff)"]
    guards = [roles_guard("staff")]

    @get("/offers", summary="Urgent offers to my stores (open ones by default), newest first")
    async def offers(
        self,
        request: Req,
        db_session: DbSession,
        store_id: FromQuery[int | None] = None,
        status: FromQuery[str | None] = "open",
        limit: FromQuery[int] = 50,
    ) -> list[OfferOut]:
        stores = await _stores(db_session, require_principal(request), store_id)
        return await services.offers_of_stores(db_session, stores, status=status or None, limit=limit)

    @post("/offers/{offer_id:int}/seen", summary="I opened this offer", status_code=200)
    async def seen(self, request: Req, db_session: DbSession, offer_id: FromPath[int]) -> dict[str, bool]:
        p = require_principal(request)
        offer = await get_offer(db_session, offer_id)
        await authorize_store(db_session, p, offer.store_id, "operate")
        return {"first_time": await services.see_offer(db_session, offer_id, actor=actor(p))}

    @post("/offers/{offer_id:int}/claim", summary="Claim the order for my store (first claim wins)", status_code=200)
    async def claim(self, request: Req, db_session: DbSession, offer_id: FromPath[int]) -> ClaimOut:
        p = require_principal(request)
        offer = await get_offer(db_session, offer_id)
        await authorize_store(db_session, p, offer.store_id, "operate")
        done = await services.claim_offer(db_session, offer_id, actor=actor(p), user_id=p.id)
        facts = await order_facts(db_session, done.order_id)
        return ClaimOut(facts.public_id, done.store_id, done.offer_id)

    @post("/offers/{offer_id:int}/decline", summary="Decline the offer, saying why", status_code=200)
    async def decline(
        self, request: Req, db_session: DbSession, offer_id: FromPath[int], data: JSONBody[DeclineIn]
    ) -> DeclineOut:
        p = require_principal(request)
        offer = await get_offer(db_session, offer_id)
        await authorize_store(db_session, p, offer.store_id, "operate")
        done = await services.decline_offer(db_session, offer_id, data.reason, actor=actor(p), user_id=p.id)
        return DeclineOut(done.offer_id, "declined", done.next_step)

    @post("/dispatches/{order_id:str}/claim", summary="Claim an order offered to one of my stores", status_code=200)
    async def claim_order(
        self, request: Req, db_session: DbSession, order_id: FromPath[str], data: JSONBody[ClaimIn]
    ) -> ClaimOut:
        p = require_principal(request)
        await authorize_store(db_session, p, data.store_id, "operate")
        facts = await order_facts_by_public_id(db_session, order_id)
        done = await services.claim_for_store(db_session, facts.id, data.store_id, actor=actor(p), user_id=p.id)
        return ClaimOut(facts.public_id, done.store_id, done.offer_id)

    @get("/dispatches", summary="Urgent orders my stores claimed, most urgent first, with the SLA countdown")
    async def deliveries(
        self,
        request: Req,
        db_session: DbSession,
        store_id: FromQuery[int | None] = None,
        active: FromQuery[bool] = True,
        limit: FromQuery[int] = 50,
    ) -> list[DeliveryOut]:
        stores = await _stores(db_session, require_principal(request), store_id)
        return await services.deliveries_of_stores(db_session, stores, active_only=active, limit=limit)

    @get("/dispatches/{order_id:str}", summary="One urgent order's dispatch and SLA clock")
    async def delivery(self, request: Req, db_session: DbSession, order_id: FromPath[str]) -> DeliveryOut:
        facts, _ = await _claimed(db_session, require_principal(request), order_id)
        return await _delivery(db_session, facts)

    @post("/dispatches/{order_id:str}/stage", summary="Start preparing, or go out for delivery", status_code=200)
    async def stage(
        self, request: Req, db_session: DbSession, order_id: FromPath[str], data: JSONBody[StageIn]
    ) -> DeliveryOut:
        p = require_principal(request)
        facts, store = await _claimed(db_session, p, order_id)
        await services.move_stage(db_session, facts.id, data.stage, actor=actor(p), store_id=store or None)
        return await _delivery(db_session, facts)

    @post("/dispatches/{order_id:str}/courier", summary="Who of the store's staff delivers it", status_code=200)
    async def courier(
        self, request: Req, db_session: DbSession, order_id: FromPath[str], data: JSONBody[CourierIn]
    ) -> DeliveryOut:
        p = require_principal(request)
        facts, store = await _claimed(db_session, p, order_id)
        await services.assign_courier(db_session, facts.id, data.user_id, actor=actor(p), store_id=store or None)
        return await _delivery(db_session, facts)

    @post(
        "/dispatches/{order_id:str}/deliver",
        summary="Delivered: with the customer's handoff code (wrong codes are logged and rate-limited)",
        status_code=200,
    )
    async def deliver(
        self, request: Req, db_session: DbSession, order_id: FromPath[str], data: JSONBody[DeliverIn]
    ) -> Response[Any]:
        p = require_principal(request)
        facts, store = await _claimed(db_session, p, order_id)
        done = await services.deliver_with_code(
            db_session,
            facts.id,
            data.handoff_code,
            actor=actor(p),
            store_id=store or None,
            proof_photo_url=data.proof_photo_url,
        )
        if not done.delivered:
            # Answered as the error it is, yet committed: the wrong attempt must count towards the pause.
            err = TooManyHandoffAttempts(60) if done.attempts_left < 0 else WrongHandoffCode(done.attempts_left)
            body = {"status_code": err.status_code, "detail": err.detail, "extra": err.extra}
            return Response(body, status_code=err.status_code, media_type=MediaType.JSON)
        return Response(await _delivery(db_session, facts))

    @get("/dispatches/{order_id:str}/timeline", summary="Every dispatch event of the order, in order (audit)")
    async def timeline(self, request: Req, db_session: DbSession, order_id: FromPath[str]) -> TimelineOut:
        p = require_principal(request)
        facts = await order_facts_by_public_id(db_session, order_id)
        if p.role != "admin":
            mine = set(await visible_store_ids(db_session, p) or [])
            if not mine & await involved_store_ids(db_session, facts.id):
                raise DispatchNotFound(order_id)
        return await services.timeline(db_session, facts)

    @get("/stores/{store_id:int}/urgent-busy", summary="Is my store pausing urgent offers?")
    async def busy(self, request: Req, db_session: DbSession, store_id: FromPath[int]) -> BusyOut:
        await authorize_store(db_session, require_principal(request), store_id, "read")
        s = await services.busy_state(db_session, store_id)
        return BusyOut(s.store_id, s.busy, s.until, s.reason)

    @post("/stores/{store_id:int}/urgent-busy", summary="Pause (busy) or resume urgent offers", status_code=200)
    async def set_busy(
        self, request: Req, db_session: DbSession, store_id: FromPath[int], data: JSONBody[BusyIn]
    ) -> BusyOut:
        p = require_principal(request)
        await authorize_store(db_session, p, store_id, "operate")
        s = await services.set_busy(
            db_session, store_id, data.busy, actor_of(p), minutes=data.minutes, reason=data.reason
        )
        return BusyOut(s.store_id, s.busy, s.until, s.reason)


class CustomerDispatchController(Controller):
    path = "/api/orders"
    tags = ["orders (customer)"]
    guards = [customer_guard]

    @get(
        "/{order_id:str}/dispatch",
        summary="My urgent order: who delivers it, each stage, the countdown, my handoff code",
    )
    async def dispatch(self, request: Req, db_session: DbSession, order_id: FromPath[str]) -> CustomerDispatchOut:
        p = require_principal(request)
        facts = await order_facts_by_public_id(db_session, order_id)
        if facts.customer_id != p.id:
            raise DispatchNotFound(order_id)  # someone else's order: as if it did not exist
        return await services.customer_view(db_session, facts)


ROUTES = [StaffDispatchController, CustomerDispatchController, offers_stream]
