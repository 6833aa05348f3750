"""Customer API: cart, quote, place (Idempotency-Key), my orders with their timeline, cancel, refund requests."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody

from core.auth import customer_guard, require_principal
from core.db import DbSession
from orders import cart as carts
from orders.after_sales import RefundLine, request_refund
from orders.cancel_order import customer_cancel
from orders.checkout import CheckoutRequest
from orders.errors import OrderNotFound
from orders.models import Order
from orders.place_order import place_order
from orders.queries import find_order, find_refund, list_orders, list_refunds, order_detail, refund_out
from orders.quote import Quote, quote
from orders.schemas import (
    CancelIn,
    CancelOut,
    CartItemIn,
    CartItemOut,
    CartOut,
    CouponOptionOut,
    OrderOut,
    OrderPage,
    PlacedOut,
    QuoteLineOut,
    QuoteOut,
    RefundIn,
    RefundOut,
    RefundPage,
)
from orders.status import load_state


def quote_out(q: Quote) -> QuoteOut:
    t = q.totals
    return QuoteOut(
        store_id=q.store_id,
        kind=q.kind,
        lines=[
            QuoteLineOut(
                x.sku_id,
                x.title,
                x.spec,
                x.qty,
                x.unit_price_fen,
                x.line_fen,
                x.discount_fen,
                x.prescription_required,
                x.price_changed,
            )
            for x in q.lines
        ],
        items_fen=t.items_fen,
        discount_fen=t.discount_fen,
        delivery_fee_fen=t.delivery_fee_fen,
        urgent_fee_fen=t.urgent_fee_fen,
        total_fen=t.total_fen,
        stored_value_fen=t.stored_value_fen,
        cash_due_fen=t.cash_due_fen,
        promise_at=q.promise.promise_at,
        promise_minutes=q.promise.minutes,
        distance_m=q.distance_m,
        prescription_required=q.needs_prescription,
        payment_deadline_min=q.payment_deadline_min,
        discounts=list(q.discounts.labels),
        price_changed=bool(q.stale),
        coupon_id=q.discounts.coupon_id,
        coupon_options=[
            CouponOptionOut(o.coupon_id, o.title, o.applicable, o.reason, o.discount_fen)
            for o in q.discounts.coupon_options
        ],
        best_coupon_id=q.discounts.best_coupon_id,
        member_card_id=q.discounts.member_card_id,
        member_discount_fen=q.discounts.member_fen,
        points=q.points.points,
        points_fen=q.points.fen,
        points_available=q.points.available,
        points_max=q.points.max_points,
        member_balance_fen=q.points.balance_fen,
    )


def cart_out(c: carts.Cart) -> CartOut:
    return CartOut(
        store_id=c.store_id,
        items=[
            CartItemOut(
                x.sku_id,
                x.title,
                x.spec,
                x.qty,
                x.price_fen,
                x.price_seen_fen,
                x.price_changed,
                x.sellable,
                x.prescription_required,
            )
            for x in c.items
        ],
        items_fen=c.items_fen,
    )


async def own_order(db_session: DbSession, public_id: str, customer_id: int) -> Order:
    order = await find_order(db_session, public_id)
    if order.customer_id != customer_id:  # someone else's order: as if it did not exist
        raise OrderNotFound(public_id)
    return order


class CartController(Controller):
    path = "/api/cart"
    tags = ["cart"]
    guards = [customer_guard]

    @get("/{store_id:int}", summary="My cart at a store (current prices; changed ones flagged)")
    async def show(self, request: Request[Any, Any, Any], db_session: DbSession, store_id: FromPath[int]) -> CartOut:
        me = require_principal(request)
        return cart_out(await carts.get_cart(db_session, me.id, store_id))

    @put("/{store_id:int}/items/{sku_id:int}", summary="Set an item's quantity (0 removes it)")
    async def set_item(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        store_id: FromPath[int],
        sku_id: FromPath[int],
        data: JSONBody[CartItemIn],
    ) -> CartOut:
        me = require_principal(request)
        return cart_out(await carts.set_cart_item(db_session, me.id, store_id, sku_id, data.qty))

    @delete("/{store_id:int}", summary="Empty my cart at a store", status_code=200)
    async def clear(self, request: Request[Any, Any, Any], db_session: DbSession, store_id: FromPath[int]) -> CartOut:
        me = require_principal(request)
        await carts.clear_cart(db_session, me.id, store_id)
        return CartOut(store_id=store_id, items=[], items_fen=0)


class CustomerOrderController(Controller):
    path = "/api/orders"
    tags = ["orders"]
    guards = [customer_guard]

    @post("/quote", summary="Price and promise of a checkout (nothing reserved)", status_code=200)
    async def quote(
        self, request: Request[Any, Any, Any], db_session: DbSession, data: JSONBody[CheckoutRequest]
    ) -> QuoteOut:
        me = require_principal(request)
        return quote_out(await quote(db_session, me.id, data))

    @post(
        "/",
        summary="Place an order (send an Idempotency-Key; the same key and body return the same order)",
        status_code=201,
    )
    async def place(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        data: JSONBody[CheckoutRequest],
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key", required=False)] = None,
    ) -> Response[PlacedOut]:
        me = require_principal(request)
        placed = await place_order(db_session, me.id, data, idempotency_key or "")
        body = PlacedOut(
            id=placed.public_id,
            number=placed.number,
            status=placed.status,
            kind=placed.kind,
            store_id=placed.store_id,
            total_fen=placed.total_fen,
            cash_due_fen=placed.cash_due_fen,
            promise_at=placed.promise_at,
            payment_deadline_at=placed.payment_deadline_at,
            replayed=not placed.created,
        )
        headers = {} if placed.created else {"Idempotent-Replayed": "true"}
        return Response(body, status_code=201, headers=headers)

    @get("/", summary="My orders, newest first")
    async def mine(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        page: FromQuery[int] = 1,
        page_size: FromQuery[int] = 20,
        stage: FromQuery[str | None] = None,
    ) -> OrderPage:
        me = require_principal(request)
        return await list_orders(db_session, customer_id=me.id, page=page, page_size=page_size, stage=stage)

    @get("/{order_id:str}", summary="One of my orders with its timeline and handoff code")
    async def detail(self, request: Request[Any, Any, Any], db_session: DbSession, order_id: FromPath[str]) -> OrderOut:
        me = require_principal(request)
        return await order_detail(db_session, await own_order(db_session, order_id, me.id), for_customer=True)

    @post(
        "/{order_id:str}/cancel", summary="Cancel (immediate before the store starts; a request after)", status_code=200
    )
    async def cancel(
        self, request: Request[Any, Any, Any], db_session: DbSession, order_id: FromPath[str], data: JSONBody[CancelIn]
    ) -> CancelOut:
        me = require_principal(request)
        order = await own_order(db_session, order_id, me.id)
        done = await customer_cancel(db_session, order.id, me.id, data.reason)
        state = await load_state(db_session, order.id)
        return CancelOut(order.public_id, done.outcome, state.status, done.refund_due_fen)

    @post("/{order_id:str}/refunds", summary="Ask for a refund of a delivered order (whole or lines)", status_code=201)
    async def ask_refund(
        self, request: Request[Any, Any, Any], db_session: DbSession, order_id: FromPath[str], data: JSONBody[RefundIn]
    ) -> RefundOut:
        me = require_principal(request)
        order = await own_order(db_session, order_id, me.id)
        lines = [RefundLine(x.sku_id, x.qty) for x in data.lines] if data.lines is not None else None
        refund = await request_refund(
            db_session, order.id, f"customer:{me.id}", data.reason, lines=lines, photo_urls=data.photo_urls
        )
        r, o = await find_refund(db_session, refund.public_id)
        return refund_out(r, o)

    @get("/{order_id:str}/refunds", summary="Refund requests of one of my orders")
    async def refunds(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        order_id: FromPath[str],
        page: FromQuery[int] = 1,
        page_size: FromQuery[int] = 20,
    ) -> RefundPage:
        me = require_principal(request)
        order = await own_order(db_session, order_id, me.id)
        return await list_refunds(db_session, order_id=order.id, page=page, page_size=page_size)
