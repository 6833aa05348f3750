"""Admin and finance API: every order with filters (finance reads), per-store order settings (admin)."""

from __future__ import annotations

from datetime import datetime

from litestar import Controller, get, put
from litestar.params import FromPath, FromQuery, JSONBody

from core.auth import roles_guard
from core.db import DbSession
from orders.queries import find_order, list_orders, list_refunds, order_detail
from orders.schemas import OrderOut, OrderPage, OrderSettingsIn, OrderSettingsOut, RefundPage
from orders.store_settings import get_order_settings, set_order_settings


class AdminOrderController(Controller):
    path = "/api/admin"
    tags = ["admin orders"]
    guards = [roles_guard("finance")]  # finance reads; admin passes every user guard

    @get("/orders", summary="All orders, newest first, with filters")
    async def orders(
        self,
        db_session: DbSession,
        page: FromQuery[int] = 1,
        page_size: FromQuery[int] = 20,
        store_id: FromQuery[int | None] = None,
        status: FromQuery[str | None] = None,
        stage: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
        number: FromQuery[str | None] = None,
        customer_id: FromQuery[int | None] = None,
        placed_from: FromQuery[datetime | None] = None,
        placed_to: FromQuery[datetime | None] = None,
    ) -> OrderPage:
        return await list_orders(
            db_session,
            page=page,
            page_size=page_size,
            store_ids=[store_id] if store_id is not None else None,
            status=status,
            stage=stage,
            kind=kind,
            number=number,
            customer_id=customer_id,
            placed_from=placed_from,
            placed_to=placed_to,
        )

    @get("/orders/{order_id:str}", summary="Any order with its timeline")
    async def detail(self, db_session: DbSession, order_id: FromPath[str]) -> OrderOut:
        return await order_detail(db_session, await find_order(db_session, order_id))

    @get("/refunds", summary="All refund requests")
    async def refunds(
        self,
        db_session: DbSession,
        status: FromQuery[str | None] = None,
        store_id: FromQuery[int | None] = None,
        page: FromQuery[int] = 1,
        page_size: FromQuery[int] = 20,
    ) -> RefundPage:
        stores = [store_id] if store_id is not None else None
        return await list_refunds(db_session, store_ids=stores, status=status, page=page, page_size=page_size)

    @get("/stores/{store_id:int}/order-settings", summary="A store's payment deadline and auto-complete delay")
    async def settings(self, db_session: DbSession, store_id: FromPath[int]) -> OrderSettingsOut:
        s = await get_order_settings(db_session, store_id)
        return OrderSettingsOut(s.store_id, s.payment_deadline_min, s.auto_complete_days)

    @put(
        "/stores/{store_id:int}/order-settings",
        summary="Set a store's payment deadline (min) and auto-complete delay (days)",
        guards=[roles_guard("admin")],
    )
    async def set_settings(
        self, db_session: DbSession, store_id: FromPath[int], data: JSONBody[OrderSettingsIn]
    ) -> OrderSettingsOut:
        s = await set_order_settings(
            db_session,
            store_id,
            payment_deadline_min=data.payment_deadline_min,
            auto_complete_days=data.auto_complete_days,
        )
        return OrderSettingsOut(s.store_id, s.payment_deadline_min, s.auto_complete_days)
