"""Staff API (admins pass too): their stores' orders by stage, stage actions, prescription reviews, cancel requests, refunds."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import Principal, require_principal, roles_guard
from core.db import DbSession
from core.errors import Forbidden, InvalidInput
from orders.after_sales import decide_refund
from orders.cancel_order import cancel_order, decide_cancel_request
from orders.errors import OrderNotFound, RefundRequestNotFound, WrongHandoffCode
from orders.models import Order
from orders.queries import find_order, find_refund, list_orders, list_refunds, order_detail, refund_out
from orders.review_prescription import review_prescription
from orders.schemas import (
    CancelIn,
    DecisionIn,
    OrderOut,
    OrderPage,
    RefundDecisionIn,
    RefundOut,
    RefundPage,
    TransitionIn,
)
from orders.transition_order import accept_order, transition
from shop.services import authorize_store, visible_store_ids

# Handing the goods over needs the code the customer shows (their order page).
NEEDS_HANDOFF_CODE = frozenset({"picked_up", "delivered"})


def actor_of(p: Principal) -> str:
    return f"{p.kind}:{p.id}"


async def scope_of(session: AsyncSession, p: Principal) -> list[int] | None:
    """The stores a user may see and act for (shop's access rule); None = every store (admin acts for HQ)."""
    return await visible_store_ids(session, p)


def in_scope(order: Order, scope: list[int] | None) -> bool:
    return scope is None or order.store_id in scope or (order.fulfil_store_id or 0) in scope


async def staff_order(session: AsyncSession, public_id: str, p: Principal) -> Order:
    order = await find_order(session, public_id)
    if not in_scope(order, await scope_of(session, p)):
        raise OrderNotFound(public_id)  # another store's order: as if it did not exist
    return order


async def stores_filter(session: AsyncSession, p: Principal, store_id: int | None) -> list[int] | None:
    if store_id is None:
        return await scope_of(session, p)
    await authorize_store(session, p, store_id, "read")  # Forbidden: not one of theirs
    return [store_id]


class StaffOrderController(Controller):
    path = "/api/staff"
    tags = ["staff orders"]
    guards = [roles_guard("staff")]

    @get("/orders", summary="My stores' orders by stage (new, review, active, cancel_requests, done, cancelled, all)")
    async def orders(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        stage: FromQuery[str] = "new",
        store_id: FromQuery[int | None] = None,
        page: FromQuery[int] = 1,
        page_size: FromQuery[int] = 20,
    ) -> OrderPage:
        p = require_principal(request)
        stores = await stores_filter(db_session, p, store_id)
        work_queue = stage in ("new", "review", "active", "cancel_requests")
        return await list_orders(
            db_session, store_ids=stores, stage=stage, page=page, page_size=page_size, oldest_first=work_queue
        )

    @get("/reviews", summary="Prescription review queue, oldest first, with minutes left on the promise")
    async def reviews(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        store_id: FromQuery[int | None] = None,
        page: FromQuery[int] = 1,
    ) -> OrderPage:
        p = require_principal(request)
        stores = await stores_filter(db_session, p, store_id)
        return await list_orders(db_session, store_ids=stores, stage="review", page=page, oldest_first=True)

    @get("/orders/{order_id:str}", summary="One order of my stores, with its timeline")
    async def detail(self, request: Request[Any, Any, Any], db_session: DbSession, order_id: FromPath[str]) -> OrderOut:
        p = require_principal(request)
        return await order_detail(db_session, await staff_order(db_session, order_id, p))

    @post("/orders/{order_id:str}/transition", summary="Move the order to its next stage", status_code=200)
    async def move(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        order_id: FromPath[str],
        data: JSONBody[TransitionIn],
    ) -> OrderOut:
        p = require_principal(request)
        order = await staff_order(db_session, order_id, p)
        if order.kind == "urgent" and data.to != "cancelled":
            # Dispatch owns urgent orders: claims move the money out of HQ clearing, stages stamp the SLA
            # clock and handoff codes are rate-limited there.
            raise InvalidInput(
                f"order {order.number} is urgent: claim it and move its stages under /api/staff/dispatches/{order_id}"
            )
        if data.to in NEEDS_HANDOFF_CODE and (data.handoff_code or "").strip() != order.handoff_code:
            raise WrongHandoffCode()
        if data.to == "accepted":
            store = data.fulfil_store_id or order.store_id
            scope = await scope_of(db_session, p)
            if scope is not None and store not in scope:
                raise Forbidden(f"you do not work at store {store}")
            await accept_order(db_session, order.id, store, actor_of(p), data.reason)
        else:
            if data.fulfil_store_id is not None:
                raise InvalidInput("fulfil_store_id goes with to=accepted only")
            await transition(db_session, order.id, data.to, actor_of(p), data.reason)
        await db_session.refresh(order)
        return await order_detail(db_session, order)

    @post(
        "/orders/{order_id:str}/review",
        summary="Approve or reject the prescription (rejection cancels)",
        status_code=200,
    )
    async def review(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        order_id: FromPath[str],
        data: JSONBody[DecisionIn],
    ) -> OrderOut:
        p = require_principal(request)
        order = await staff_order(db_session, order_id, p)
        await review_prescription(db_session, order.id, data.approve, actor_of(p), data.reason)
        await db_session.refresh(order)
        return await order_detail(db_session, order)

    @post(
        "/orders/{order_id:str}/cancel",
        summary="Cancel the order (stock, coupon released; refund if paid)",
        status_code=200,
    )
    async def cancel(
        self, request: Request[Any, Any, Any], db_session: DbSession, order_id: FromPath[str], data: JSONBody[CancelIn]
    ) -> OrderOut:
        p = require_principal(request)
        order = await staff_order(db_session, order_id, p)
        if not data.reason.strip():
            raise InvalidInput("say why the order is cancelled; the customer sees the reason")
        await cancel_order(db_session, order.id, actor_of(p), data.reason)
        await db_session.refresh(order)
        return await order_detail(db_session, order)

    @post(
        "/orders/{order_id:str}/cancel-request",
        summary="Approve or decline the customer's cancel request",
        status_code=200,
    )
    async def cancel_request(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        order_id: FromPath[str],
        data: JSONBody[DecisionIn],
    ) -> OrderOut:
        p = require_principal(request)
        order = await staff_order(db_session, order_id, p)
        await decide_cancel_request(db_session, order.id, data.approve, actor_of(p), data.reason)
        await db_session.refresh(order)
        return await order_detail(db_session, order)

    @get("/refunds", summary="Refund requests on my stores' orders")
    async def refunds(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        status: FromQuery[str | None] = "requested",
        store_id: FromQuery[int | None] = None,
        page: FromQuery[int] = 1,
        page_size: FromQuery[int] = 20,
    ) -> RefundPage:
        p = require_principal(request)
        stores = await stores_filter(db_session, p, store_id)
        return await list_refunds(db_session, store_ids=stores, status=status, page=page, page_size=page_size)

    @post(
        "/refunds/{refund_id:str}/decision",
        summary="Approve (RefundApproved) or reject a refund request",
        status_code=200,
    )
    async def decide(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        refund_id: FromPath[str],
        data: JSONBody[RefundDecisionIn],
    ) -> RefundOut:
        p = require_principal(request)
        refund, order = await find_refund(db_session, refund_id)
        if not in_scope(order, await scope_of(db_session, p)):
            raise RefundRequestNotFound(refund_id)
        await decide_refund(
            db_session, refund.id, data.approve, actor_of(p), data.reason, goods_returned=data.goods_returned
        )
        await db_session.refresh(refund)
        return refund_out(refund, order)
