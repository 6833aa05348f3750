"""What customers browse: a store's catalogue (its listed SKUs at its prices, with availability),
keyword search (pg_trgm substring, Chinese included) and the whole catalogue at base prices; cached."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from sqlalchemy import and_, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import sessionmaker
from core.errors import InvalidInput
from shop.catalogue.cache import cached
from shop.catalogue.models import Category, Product, Sku, StoreListing
from shop.errors import not_found
from shop.pagination import check_page
from shop.stock.models import StockLevel
from shop.stores.models import Store

MAX_QUERY = 50


class SkuView(msgspec.Struct):
    sku_id: int
    code: str
    spec: str
    barcode: str | None
    price_fen: int
    base_price_fen: int
    available: int | None  # None in the chain-wide catalogue (stock is per store)


class ProductView(msgspec.Struct):
    product_id: int
    category_id: int
    title: str
    subtitle: str
    image_urls: list[str]
    tags: list[str]
    prescription_required: bool
    skus: list[SkuView]


class CataloguePage(msgspec.Struct):
    store_id: int | None
    items: list[ProductView]
    total: int
    page: int
    page_size: int
    q: str | None = None
    category_id: int | None = None


def clean_query(q: str | None) -> str | None:
    if q is None:
        return None
    q = q.strip()
    if not q:
        return None
    if len(q) > MAX_QUERY:
        raise InvalidInput(f"search text must be at most {MAX_QUERY} characters")
    return q


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _matches(q: str) -> Any:
    pat = _like(q)
    return or_(
        Product.title.ilike(pat, escape="\\"),
        Product.subtitle.ilike(pat, escape="\\"),
        literal(q) == func.any(Product.tags),
        exists().where(Sku.product_id == Product.id, Sku.active, or_(Sku.code == q, Sku.barcode == q)),
    )


def _in_category(category_id: int) -> Any:
    tree = select(Category.id).where(Category.id == category_id).cte("tree", recursive=True)
    tree = tree.union_all(select(Category.id).where(Category.parent_id == tree.c.id))
    return Product.category_id.in_(select(tree.c.id))


async def _page_of_products(
    session: AsyncSession, filters: list[Any], q: str | None, page: int, page_size: int
) -> tuple[list[Product], int]:
    limit, offset = check_page(page, page_size)
    base = select(Product.id).where(Product.active, *filters)
    total = await session.scalar(select(func.count()).select_from(base.subquery())) or 0
    order: list[Any] = [Product.id]
    if q:
        order = [
            func.greatest(func.similarity(Product.title, q), func.similarity(Product.subtitle, q)).desc(),
            Product.id,
        ]
    ids = list((await session.scalars(base.order_by(*order).limit(limit).offset(offset))).all())
    if not ids:
        return [], total
    products = {p.id: p for p in (await session.scalars(select(Product).where(Product.id.in_(ids)))).all()}
    return [products[i] for i in ids], total


def _view(p: Product, skus: list[SkuView]) -> ProductView:
    return ProductView(
        product_id=p.id,
        category_id=p.category_id,
        title=p.title,
        subtitle=p.subtitle,
        image_urls=list(p.image_urls),
        tags=list(p.tags),
        prescription_required=p.prescription_required,
        skus=skus,
    )


async def store_catalogue(
    session: AsyncSession,
    store_id: int,
    *,
    category_id: int | None = None,
    q: str | None = None,
    page: int = 1,
    page_size: int = 20,
) -> CataloguePage:
    """Products with at least one SKU listed at this (active) store, its prices and available units."""
    store = await session.get(Store, store_id)
    if store is None or store.status != "active":
        raise not_found("store", store_id)
    q = clean_query(q)
    listed = exists().where(
        Sku.product_id == Product.id,
        Sku.active,
        StoreListing.sku_id == Sku.id,
        StoreListing.store_id == store_id,
        StoreListing.listed,
    )
    filters = [listed]
    if category_id is not None:
        filters.append(_in_category(category_id))
    if q:
        filters.append(_matches(q))
    products, total = await _page_of_products(session, filters, q, page, page_size)
    rows = (
        await session.execute(
            select(
                Sku.id,
                Sku.product_id,
                Sku.code,
                Sku.spec,
                Sku.barcode,
                Sku.base_price_fen,
                StoreListing.price_fen,
                func.coalesce(StockLevel.on_hand - StockLevel.reserved, 0).label("available"),
            )
            .join(
                StoreListing,
                and_(StoreListing.sku_id == Sku.id, StoreListing.store_id == store_id, StoreListing.listed),
            )
            .outerjoin(StockLevel, and_(StockLevel.sku_id == Sku.id, StockLevel.store_id == store_id))
            .where(Sku.product_id.in_([p.id for p in products]), Sku.active)
            .order_by(Sku.product_id, Sku.id)
        )
    ).all()
    by_product: dict[int, list[SkuView]] = {}
    for r in rows:
        price = r.price_fen if r.price_fen is not None else r.base_price_fen
        by_product.setdefault(r.product_id, []).append(
            SkuView(r.id, r.code, r.spec, r.barcode, price, r.base_price_fen, int(r.available))
        )
    items = [_view(p, by_product.get(p.id, [])) for p in products]
    return CataloguePage(store_id, items, total, page, page_size, q, category_id)


async def chain_catalogue(
    session: AsyncSession,
    *,
    category_id: int | None = None,
    q: str | None = None,
    page: int = 1,
    page_size: int = 20,
) -> CataloguePage:
    """The whole catalogue at base prices (active products with an active SKU)."""
    q = clean_query(q)
    filters: list[Any] = [exists().where(Sku.product_id == Product.id, Sku.active)]
    if category_id is not None:
        filters.append(_in_category(category_id))
    if q:
        filters.append(_matches(q))
    products, total = await _page_of_products(session, filters, q, page, page_size)
    skus = (
        await session.scalars(
            select(Sku).where(Sku.product_id.in_([p.id for p in products]), Sku.active).order_by(Sku.product_id, Sku.id)
        )
    ).all()
    by_product: dict[int, list[SkuView]] = {}
    for s in skus:
        by_product.setdefault(s.product_id, []).append(
            SkuView(s.id, s.code, s.spec, s.barcode, s.base_price_fen, s.base_price_fen, None)
        )
    return CataloguePage(
        None, [_view(p, by_product.get(p.id, [])) for p in products], total, page, page_size, q, category_id
    )


def cache_signature(category_id: int | None, q: str | None, page: int, page_size: int) -> str:
    qpart = ""
    if q:
        qpart = q if len(q) <= 20 else hashlib.sha1(q.encode()).hexdigest()  # noqa: S324 - a cache key
    return f"c{category_id or ''}:p{page}:s{page_size}:q{qpart}"


_encoder = msgspec.json.Encoder()


async def store_catalogue_json(
    store_id: int, *, category_id: int | None = None, q: str | None = None, page: int = 1, page_size: int = 20
) -> bytes:
    """The cached JSON of store_catalogue; opens a database session only on a cache miss."""
    q = clean_query(q)
    check_page(page, page_size)

    async def build() -> bytes:
        async with sessionmaker()() as session:
            result = await store_catalogue(
                session, store_id, category_id=category_id, q=q, page=page, page_size=page_size
            )
        return _encoder.encode(result)

    return await cached(store_id, cache_signature(category_id, q, page, page_size), build)


async def chain_catalogue_json(
    *, category_id: int | None = None, q: str | None = None, page: int = 1, page_size: int = 20
) -> bytes:
    q = clean_query(q)
    check_page(page, page_size)

    async def build() -> bytes:
        async with sessionmaker()() as session:
            result = await chain_catalogue(session, category_id=category_id, q=q, page=page, page_size=page_size)
        return _encoder.encode(result)

    return await cached(None, cache_signature(category_id, q, page, page_size), build)


async def store_product(session: AsyncSession, store_id: int, product_id: int) -> ProductView:
    """One product as sold at a store (its listed SKUs only)."""
    store = await session.get(Store, store_id)
    if store is None or store.status != "active":
        raise not_found("store", store_id)
    product = await session.get(Product, product_id)
    if product is None or not product.active:
        raise not_found("product", product_id)
    rows = (
        await session.execute(
            select(Sku, StoreListing.price_fen, func.coalesce(StockLevel.on_hand - StockLevel.reserved, 0))
            .join(
                StoreListing,
                and_(StoreListing.sku_id == Sku.id, StoreListing.store_id == store_id, StoreListing.listed),
            )
            .outerjoin(StockLevel, and_(StockLevel.sku_id == Sku.id, StockLevel.store_id == store_id))
            .where(Sku.product_id == product_id, Sku.active)
            .order_by(Sku.id)
        )
    ).all()
    if not rows:
        raise not_found("product at this store", product_id)
    skus = [
        SkuView(
            s.id,
            s.code,
            s.spec,
            s.barcode,
            price if price is not None else s.base_price_fen,
            s.base_price_fen,
            int(avail),
        )
        for s, price, avail in rows
    ]
    return _view(product, skus)
