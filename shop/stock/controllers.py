"""Stock API of one store (/api/admin/stores/{id}/stock): staff of the store and admins change, finance reads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from msgspec import Meta

from core.auth import user_guard
from core.db import DbSession
from core.errors import InvalidInput
from shop.access import actor_of, authorize_store, principal_of
from shop.catalogue.services import get_sku
from shop.csv_rows import spool
from shop.stock.import_csv import StockImportResult, import_stock
from shop.stock.seam import MAX_QTY
from shop.stock.services import LevelView, adjust_stock, get_level, movements_page, receive_stock, stock_page
from shop.strict import strict_body

PageNo = Annotated[int, QueryParameter(ge=1, le=100_000)]
PageSize = Annotated[int, QueryParameter(ge=1, le=100)]
Req = Request[Any, Any, Any]
Reason = Annotated[str, Meta(min_length=1, max_length=200)]


class LevelOut(msgspec.Struct):
    store_id: int
    sku_id: int
    on_hand: int
    reserved: int
    available: int
    sku_code: str = ""
    title: str = ""
    spec: str = ""

    @classmethod
    def of(cls, v: LevelView) -> LevelOut:
        return cls(v.store_id, v.sku_id, v.on_hand, v.reserved, v.available, v.sku_code, v.title, v.spec)


class LevelPage(msgspec.Struct):
    items: list[LevelOut]
    total: int
    page: int
    page_size: int


class AdjustmentIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason
    delta: Annotated[int, Meta(ge=-MAX_QTY, le=MAX_QTY)] | None = None
    on_hand: Annotated[int, Meta(ge=0, le=MAX_QTY)] | None = None


class ReceiptIn(msgspec.Struct, forbid_unknown_fields=True):
    qty: Annotated[int, Meta(ge=1, le=MAX_QTY)]
    reason: Reason = "goods received"


class MovementOut(msgspec.Struct):
    id: int
    sku_id: int
    kind: str
    on_hand_delta: int
    reserved_delta: int
    ref: str | None
    actor: str
    reason: str
    created_at: datetime


class MovementPage(msgspec.Struct):
    items: list[MovementOut]
    total: int
    page: int
    page_size: int


class StockController(Controller):
    path = "/api/admin/stores/{store_id:int}/stock"
    tags = ["admin: stock"]
    guards = [user_guard]

    @get("/", summary="Stock levels of the store")
    async def levels(
        self,
        request: Req,
        db_session: DbSession,
        store_id: FromPath[int],
        page: PageNo = 1,
        page_size: PageSize = 50,
        low_only: FromQuery[bool] = False,
    ) -> LevelPage:
        await authorize_store(db_session, principal_of(request), store_id, "read")
        result = await stock_page(db_session, store_id, page=page, page_size=page_size, low_only=low_only)
        return LevelPage([LevelOut.of(v) for v in result.items], result.total, page, page_size)

    @get("/movements", summary="Movement log of the store (newest first)")
    async def movements(
        self,
        request: Req,
        db_session: DbSession,
        store_id: FromPath[int],
        sku_id: FromQuery[int | None] = None,
        page: PageNo = 1,
        page_size: PageSize = 50,
    ) -> MovementPage:
        await authorize_store(db_session, principal_of(request), store_id, "read")
        result = await movements_page(db_session, store_id, sku_id=sku_id, page=page, page_size=page_size)
        return MovementPage([MovementOut(**m.__dict__) for m in result.items], result.total, page, page_size)

    @get("/{sku_id:int}", summary="One SKU's level at the store")
    async def level(
        self, request: Req, db_session: DbSession, store_id: FromPath[int], sku_id: FromPath[int]
    ) -> LevelOut:
        await authorize_store(db_session, principal_of(request), store_id, "read")
        await get_sku(db_session, sku_id)
        return LevelOut.of(await get_level(db_session, store_id, sku_id))

    @post("/{sku_id:int}/adjustments", summary="Adjust on_hand by delta or set it (never below reserved)")
    async def adjust(
        self,
        request: Req,
        db_session: DbSession,
        store_id: FromPath[int],
        sku_id: FromPath[int],
        data: JSONBody[AdjustmentIn],
    ) -> LevelOut:
        data = await strict_body(request, data)
        p = principal_of(request)
        await authorize_store(db_session, p, store_id, "operate")
        if (data.delta is None) == (data.on_hand is None):
            raise InvalidInput("give either delta or on_hand")
        level = await adjust_stock(
            db_session, store_id, sku_id, actor_of(p), delta=data.delta, on_hand=data.on_hand, reason=data.reason
        )
        return LevelOut.of(level)

    @post("/{sku_id:int}/receipts", summary="Goods received")
    async def receive(
        self,
        request: Req,
        db_session: DbSession,
        store_id: FromPath[int],
        sku_id: FromPath[int],
        data: JSONBody[ReceiptIn],
    ) -> LevelOut:
        data = await strict_body(request, data)
        p = principal_of(request)
        await authorize_store(db_session, p, store_id, "operate")
        return LevelOut.of(await receive_stock(db_session, store_id, sku_id, data.qty, actor_of(p), reason=data.reason))

    @post("/import", summary="Stocktake CSV (sku_code,on_hand[,reason]); all or nothing", status_code=200)
    async def import_csv(self, request: Req, db_session: DbSession, store_id: FromPath[int]) -> StockImportResult:
        p = principal_of(request)
        await authorize_store(db_session, p, store_id, "operate")
        with await spool(request.stream()) as text:
            return await import_stock(db_session, store_id, text, actor_of(p))
