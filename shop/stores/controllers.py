"""Public store API: nearby stores, one store with its hours, its catalogue (cached) and products."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, MediaType, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, QueryParameter
from sqlalchemy import select

from core import clock
from core.db import DbSession
from shop.catalogue.browse import CataloguePage, ProductView, store_catalogue_json, store_product
from shop.errors import not_found
from shop.stores.models import Store
from shop.stores.nearest import MAX_LIMIT, nearest_stores
from shop.stores.schemas import (
    IntervalOut,
    NearbyOut,
    StoreDetail,
    StoreOut,
    StorePage,
    exceptions_out,
    weekly_out,
)
from shop.stores.services import list_stores, load_schedules

PageNo = Annotated[int, QueryParameter(ge=1, le=100_000)]
PageSize = Annotated[int, QueryParameter(ge=1, le=100)]


class PublicStoreController(Controller):
    path = "/api/stores"
    tags = ["stores"]

    @get("/nearby", summary="Nearest active stores with distance, open now, delivers here")
    async def nearby(
        self,
        db_session: DbSession,
        lat: Annotated[float, QueryParameter(ge=-90, le=90)],
        lng: Annotated[float, QueryParameter(ge=-180, le=180)],
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = 10,
        open_now: FromQuery[bool] = False,
        delivers_to: FromQuery[bool] = False,
    ) -> list[NearbyOut]:
        found = await nearest_stores(db_session, lat, lng, limit, open_now, delivers_to)
        if not found:
            return []
        stores = {
            s.id: s
            for s in (await db_session.scalars(select(Store).where(Store.id.in_([f.store_id for f in found])))).all()
        }
        out = []
        for f in found:
            s = stores.get(f.store_id)
            if s is None or s.status != "active":  # the mirror lags PostgreSQL by a commit
                continue
            out.append(
                NearbyOut(
                    s.id,
                    s.code,
                    s.name,
                    s.address,
                    s.phone,
                    s.lat,
                    s.lng,
                    round(f.distance_m),
                    f.open_now,
                    f.delivers,
                    s.radius_m,
                    s.is_partner,
                    s.is_hq,
                )
            )
        return out

    @get("/", summary="Active stores")
    async def list_active(self, db_session: DbSession, page: PageNo = 1, page_size: PageSize = 50) -> StorePage:
        result = await list_stores(db_session, page=page, page_size=page_size, status="active")
        return StorePage([StoreOut.of(s) for s in result.items], result.total, page, page_size)

    @get("/{store_id:int}", summary="A store with its opening hours and whether it is open now")
    async def detail(self, db_session: DbSession, store_id: FromPath[int]) -> StoreDetail:
        store = await db_session.get(Store, store_id)
        if store is None or store.status != "active":
            raise not_found("store", store_id)
        now = clock.now()
        today = now.astimezone(clock.SHANGHAI).date()
        schedule = (await load_schedules(db_session, [store_id], since=today))[store_id]
        return StoreDetail(
            store=StoreOut.of(store),
            open_now=schedule.is_open_at(now),
            today=[IntervalOut.of(i) for i in schedule.intervals_on(today)],
            weekly=weekly_out(schedule),
            exceptions=exceptions_out(schedule, today),
            as_of=now,
        )

    @get(
        "/{store_id:int}/catalogue",
        summary="The store's catalogue: listed products at its prices with available units; `q` searches",
        responses={200: ResponseSpec(CataloguePage, description="one page of products")},
    )
    async def catalogue(
        self,
        store_id: FromPath[int],
        category_id: FromQuery[int | None] = None,
        q: Annotated[str | None, QueryParameter(max_length=50)] = None,
        page: PageNo = 1,
        page_size: PageSize = 20,
    ) -> Response[bytes]:
        body = await store_catalogue_json(store_id, category_id=category_id, q=q, page=page, page_size=page_size)
        return Response(body, media_type=MediaType.JSON)

    @get("/{store_id:int}/products/{product_id:int}", summary="A product as sold at the store")
    async def product(self, db_session: DbSession, store_id: FromPath[int], product_id: FromPath[int]) -> ProductView:
        return await store_product(db_session, store_id, product_id)
