"""Catalogue API: the public chain catalogue and search (cached), admin management, per-store listings."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, MediaType, Request, Response, delete, get, patch, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import user_guard
from core.db import DbSession
from shop.access import actor_of, authorize_store, principal_of, require_role
from shop.catalogue.browse import CataloguePage, chain_catalogue_json
from shop.catalogue.import_csv import CatalogueImportResult, import_catalogue
from shop.catalogue.models import Product, Sku, StoreListing
from shop.catalogue.schemas import (
    CategoryIn,
    CategoryOut,
    CategoryPatch,
    ListingIn,
    ListingOut,
    ListingPage,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductPatch,
    SkuIn,
    SkuOut,
    SkuPatch,
)
from shop.catalogue.services import (
    category_tree,
    create_category,
    create_product,
    create_sku,
    delete_category,
    get_product,
    get_sku,
    set_listing,
    update_category,
    update_product,
    update_sku,
)
from shop.csv_rows import spool
from shop.pagination import check_page
from shop.stores.schemas import changes_of
from shop.strict import strict_body

PageNo = Annotated[int, QueryParameter(ge=1, le=100_000)]
PageSize = Annotated[int, QueryParameter(ge=1, le=100)]
Query = Annotated[str | None, QueryParameter(max_length=50)]
Req = Request[Any, Any, Any]


async def _product_out(session: AsyncSession, product: Product) -> ProductOut:
    """A product with all its SKUs, active or not, as admins see it."""
    skus = (await session.scalars(select(Sku).where(Sku.product_id == product.id).order_by(Sku.id))).all()
    return ProductOut.of(product, list(skus))


class PublicCatalogueController(Controller):
    path = "/api/catalogue"
    tags = ["catalogue"]

    @get("/categories", summary="The category tree")
    async def categories(self, db_session: DbSession) -> list[dict[str, Any]]:
        return await category_tree(db_session)

    @get(
        "/search",
        summary="Search the whole catalogue at base prices (substring, Chinese included); no q lists everything",
        responses={200: ResponseSpec(CataloguePage, description="one page of products")},
    )
    async def search(
        self, q: Query = None, category_id: FromQuery[int | None] = None, page: PageNo = 1, page_size: PageSize = 20
    ) -> Response[bytes]:
        body = await chain_catalogue_json(q=q, category_id=category_id, page=page, page_size=page_size)
        return Response(body, media_type=MediaType.JSON)

    @get("/products/{product_id:int}", summary="A product with its SKUs at base prices")
    async def product(self, db_session: DbSession, product_id: FromPath[int]) -> ProductOut:
        p = await get_product(db_session, product_id)
        if not p.active:
            from shop.errors import not_found

            raise not_found("product", product_id)
        skus = (
            await db_session.scalars(select(Sku).where(Sku.product_id == product_id, Sku.active).order_by(Sku.id))
        ).all()
        return ProductOut.of(p, list(skus))


class AdminCatalogueController(Controller):
    path = "/api/admin/catalogue"
    tags = ["admin: catalogue"]
    guards = [user_guard]

    @post("/categories", summary="Create a category (admin)")
    async def create_category(self, request: Req, db_session: DbSession, data: JSONBody[CategoryIn]) -> CategoryOut:
        data = await strict_body(request, data)
        p = principal_of(request)
        await require_role(db_session, p)
        c = await create_category(
            db_session, actor_of(p), name=data.name, parent_id=data.parent_id, sort_order=data.sort_order
        )
        return CategoryOut(c.id, c.name, c.parent_id, c.sort_order, c.active)

    @patch("/categories/{category_id:int}", summary="Change a category (admin)")
    async def change_category(
        self, request: Req, db_session: DbSession, category_id: FromPath[int], data: JSONBody[CategoryPatch]
    ) -> CategoryOut:
        data = await strict_body(request, data)
        p = principal_of(request)
        await require_role(db_session, p)
        c = await update_category(db_session, category_id, changes_of(data), actor_of(p))
        return CategoryOut(c.id, c.name, c.parent_id, c.sort_order, c.active)

    @delete("/categories/{category_id:int}", summary="Delete an empty category (admin)", status_code=204)
    async def remove_category(self, request: Req, db_session: DbSession, category_id: FromPath[int]) -> None:
        p = principal_of(request)
        await require_role(db_session, p)
        await delete_category(db_session, category_id, actor_of(p))

    @get("/products", summary="Products, including inactive ones (any signed-in user)")
    async def products(
        self, request: Req, db_session: DbSession, q: Query = None, page: PageNo = 1, page_size: PageSize = 50
    ) -> ProductPage:
        await require_role(db_session, principal_of(request), "staff", "finance")
        limit, offset = check_page(page, page_size)
        query = select(Product)
        if q:
            pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(Product.title.ilike(pattern, escape="\\"))
        total = await db_session.scalar(select(func.count()).select_from(query.subquery())) or 0
        products = (await db_session.scalars(query.order_by(Product.id).limit(limit).offset(offset))).all()
        skus = (
            await db_session.scalars(select(Sku).where(Sku.product_id.in_([x.id for x in products])).order_by(Sku.id))
        ).all()
        items = [ProductOut.of(x, [s for s in skus if s.product_id == x.id]) for x in products]
        return ProductPage(items, total, page, page_size)

    @post("/products", summary="Create a product with its SKUs (admin)")
    async def create_product(self, request: Req, db_session: DbSession, data: JSONBody[ProductIn]) -> ProductOut:
        data = await strict_body(request, data)
        p = principal_of(request)
        await require_role(db_session, p)
        values = changes_of(data)
        skus = [changes_of(s) for s in data.skus]
        values.pop("skus")
        product, made = await create_product(db_session, actor_of(p), skus=skus, **values)
        return ProductOut.of(product, made)

    @get("/products/{product_id:int}", summary="A product with all its SKUs")
    async def product(self, request: Req, db_session: DbSession, product_id: FromPath[int]) -> ProductOut:
        await require_role(db_session, principal_of(request), "staff", "finance")
        product = await get_product(db_session, product_id)
        return await _product_out(db_session, product)

    @patch("/products/{product_id:int}", summary="Change a product (admin)")
    async def change_product(
        self, request: Req, db_session: DbSession, product_id: FromPath[int], data: JSONBody[ProductPatch]
    ) -> ProductOut:
        data = await strict_body(request, data)
        p = principal_of(request)
        await require_role(db_session, p)
        product = await update_product(db_session, product_id, changes_of(data), actor_of(p))
        return await _product_out(db_session, product)

    @post("/products/{product_id:int}/skus", summary="Add a SKU (admin)")
    async def add_sku(
        self, request: Req, db_session: DbSession, product_id: FromPath[int], data: JSONBody[SkuIn]
    ) -> SkuOut:
        data = await strict_body(request, data)
        p = principal_of(request)
        await require_role(db_session, p)
        return SkuOut.of(await create_sku(db_session, actor_of(p), product_id=product_id, **changes_of(data)))

    @patch("/skus/{sku_id:int}", summary="Change a SKU, e.g. its base price (admin; audited)")
    async def change_sku(
        self, request: Req, db_session: DbSession, sku_id: FromPath[int], data: JSONBody[SkuPatch]
    ) -> SkuOut:
        data = await strict_body(request, data)
        p = principal_of(request)
        await require_role(db_session, p)
        return SkuOut.of(await update_sku(db_session, sku_id, changes_of(data), actor_of(p)))

    @post("/import", summary="Catalogue CSV (all or nothing; errors name the line)", status_code=200)
    async def import_csv(self, request: Req, db_session: DbSession) -> CatalogueImportResult:
        p = principal_of(request)
        await require_role(db_session, p)
        with await spool(request.stream()) as text:
            return await import_catalogue(db_session, text, actor_of(p))


class ListingController(Controller):
    path = "/api/admin/stores/{store_id:int}/listings"
    tags = ["admin: catalogue"]
    guards = [user_guard]

    @get("/", summary="What the store sells and at which price")
    async def listings(
        self, request: Req, db_session: DbSession, store_id: FromPath[int], page: PageNo = 1, page_size: PageSize = 50
    ) -> ListingPage:
        await authorize_store(db_session, principal_of(request), store_id, "read")
        limit, offset = check_page(page, page_size)
        base = (
            select(StoreListing, Sku.base_price_fen)
            .join(Sku, Sku.id == StoreListing.sku_id)
            .where(StoreListing.store_id == store_id)
        )
        total = await db_session.scalar(select(func.count()).select_from(base.subquery())) or 0
        rows = (await db_session.execute(base.order_by(StoreListing.sku_id).limit(limit).offset(offset))).all()
        return ListingPage([ListingOut.of(r[0], r[1]) for r in rows], total, page, page_size)

    @put("/{sku_id:int}", summary="List a SKU at the store and/or set its store price (admin; audited)")
    async def set_(
        self,
        request: Req,
        db_session: DbSession,
        store_id: FromPath[int],
        sku_id: FromPath[int],
        data: JSONBody[ListingIn],
    ) -> ListingOut:
        data = await strict_body(request, data)
        p = principal_of(request)
        await authorize_store(db_session, p, store_id, "manage")
        row = await set_listing(db_session, store_id, sku_id, actor_of(p), **changes_of(data))
        return ListingOut.of(row, (await get_sku(db_session, sku_id)).base_price_fen)
