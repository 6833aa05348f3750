"""Catalogue operations: categories, products, SKUs, and per-store listings and prices (audited)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, InvalidInput
from core.money import MoneyError, check_fen
from shop.audit import Actor, record_audit
from shop.catalogue.cache import mark_catalogue_changed, mark_store_catalogue_changed
from shop.catalogue.models import Category, Product, Sku, StoreListing
from shop.errors import not_found

SKU_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
BARCODE = re.compile(r"^[0-9A-Za-z-]{1,32}$")
MAX_PRICE_FEN = 100_000_000  # ¥1,000,000: anything above is a typo


class _Unset:
    pass


UNSET: Any = _Unset()


def check_price(value: object, field: str = "price_fen") -> int:
    try:
        fen = check_fen(value, field=field)
    except MoneyError as exc:
        raise InvalidInput(str(exc)) from None
    if fen > MAX_PRICE_FEN:
        raise InvalidInput(f"{field} {fen} is above ¥{MAX_PRICE_FEN // 100}; prices are in fen (1 yuan = 100 fen)")
    return fen


def _text(value: object, field: str, *, lo: int = 0, hi: int) -> str:
    if not isinstance(value, str) or not lo <= len(value.strip()) <= hi:
        raise InvalidInput(f"{field} must be text of {lo}–{hi} characters")
    return value.strip()


def _strings(values: object, field: str, *, each: int, most: int) -> list[str]:
    if not isinstance(values, (list, tuple)) or len(values) > most:
        raise InvalidInput(f"{field} must be a list of at most {most} entries")
    out = []
    for v in values:
        if not isinstance(v, str) or not 1 <= len(v.strip()) <= each:
            raise InvalidInput(f"each of {field} must be text of 1–{each} characters")
        out.append(v.strip())
    return out


def _urls(values: object) -> list[str]:
    urls = _strings(values, "image_urls", each=500, most=10)
    for u in urls:
        if not (u.startswith("https://") or u.startswith("http://") or u.startswith("/")):
            raise InvalidInput(f"image URL {u!r} must start with https://, http:// or /")
    return urls


# --- categories ------------------------------------------------------------------------------------------


async def get_category(session: AsyncSession, category_id: int) -> Category:
    cat = await session.get(Category, category_id)
    if cat is None:
        raise not_found("category", category_id)
    return cat


async def create_category(
    session: AsyncSession, actor: Actor, *, name: str, parent_id: int | None = None, sort_order: int = 0
) -> Category:
    name = _text(name, "name", lo=1, hi=50)
    if parent_id is not None:
        await get_category(session, parent_id)
    clash = await session.scalar(
        select(Category.id).where(Category.parent_id.is_not_distinct_from(parent_id), Category.name == name)
    )
    if clash is not None:
        raise Conflict(f"category {name!r} already exists there (id {clash})")
    cat = Category(name=name, parent_id=parent_id, sort_order=int(sort_order))
    session.add(cat)
    await session.flush()
    await record_audit(
        session, actor, "category.create", "category", cat.id, after={"name": name, "parent_id": parent_id}
    )
    mark_catalogue_changed(session)
    return cat


async def update_category(
    session: AsyncSession, category_id: int, changes: Mapping[str, Any], actor: Actor
) -> Category:
    cat = await get_category(session, category_id)
    if "name" in changes:
        changes = {**changes, "name": _text(changes["name"], "name", lo=1, hi=50)}
    if "parent_id" in changes and changes["parent_id"] is not None:
        parent = changes["parent_id"]
        # A category cannot move under itself or its own descendants.
        seen = parent
        while seen is not None:
            if seen == category_id:
                raise InvalidInput("a category cannot be placed under itself or one of its subcategories")
            seen = (await get_category(session, seen)).parent_id
    before = {k: getattr(cat, k) for k in changes}
    for k, v in changes.items():
        if k not in ("name", "parent_id", "sort_order", "active"):
            raise InvalidInput(f"unknown category field {k}")
        setattr(cat, k, v)
    await session.flush()
    await record_audit(session, actor, "category.update", "category", category_id, before=before, after=dict(changes))
    mark_catalogue_changed(session)
    return cat


async def delete_category(session: AsyncSession, category_id: int, actor: Actor) -> None:
    cat = await get_category(session, category_id)
    children = await session.scalar(select(func.count()).where(Category.parent_id == category_id))
    products = await session.scalar(select(func.count()).where(Product.category_id == category_id))
    if children or products:
        raise Conflict(f"category {category_id} still has {children} subcategories and {products} products")
    await session.delete(cat)
    await session.flush()
    await record_audit(session, actor, "category.delete", "category", category_id, before={"name": cat.name})
    mark_catalogue_changed(session)


async def category_tree(session: AsyncSession, *, include_inactive: bool = False) -> list[dict[str, Any]]:
    q = select(Category).order_by(Category.sort_order, Category.id)
    if not include_inactive:
        q = q.where(Category.active)
    cats = (await session.scalars(q)).all()
    nodes: dict[int, dict[str, Any]] = {
        c.id: {"id": c.id, "name": c.name, "sort_order": c.sort_order, "children": []} for c in cats
    }
    roots: list[dict[str, Any]] = []
    for c in cats:
        parent = nodes.get(c.parent_id) if c.parent_id is not None else None
        (parent["children"] if parent else roots).append(nodes[c.id])
    return roots


# --- products and SKUs -----------------------------------------------------------------------------------


async def get_product(session: AsyncSession, product_id: int) -> Product:
    p = await session.get(Product, product_id)
    if p is None:
        raise not_found("product", product_id)
    return p


async def get_sku(session: AsyncSession, sku_id: int) -> Sku:
    s = await session.get(Sku, sku_id)
    if s is None:
        raise not_found("SKU", sku_id)
    return s


def product_values(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in values.items():
        if k == "title":
            out[k] = _text(v, "title", lo=1, hi=120)
        elif k == "subtitle":
            out[k] = _text(v, "subtitle", hi=200)
        elif k == "description":
            out[k] = _text(v, "description", hi=5000)
        elif k == "image_urls":
            out[k] = _urls(v)
        elif k == "tags":
            out[k] = _strings(v, "tags", each=32, most=20)
        elif k in ("prescription_required", "active"):
            if not isinstance(v, bool):
                raise InvalidInput(f"{k} must be true or false")
            out[k] = v
        elif k == "category_id":
            out[k] = v
        else:
            raise InvalidInput(f"unknown product field {k}")
    return out


def sku_values(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in values.items():
        if k == "code":
            if not isinstance(v, str) or not SKU_CODE.match(v):
                raise InvalidInput(f"SKU code {v!r} must be 1–64 letters, digits, _ . -")
            out[k] = v
        elif k == "spec":
            out[k] = _text(v, "spec", hi=100)
        elif k == "barcode":
            if v is not None and (not isinstance(v, str) or not BARCODE.match(v)):
                raise InvalidInput(f"barcode {v!r} must be 1–32 letters or digits")
            out[k] = v or None
        elif k == "base_price_fen":
            out[k] = check_price(v, "base_price_fen")
        elif k == "active":
            if not isinstance(v, bool):
                raise InvalidInput("active must be true or false")
            out[k] = v
        else:
            raise InvalidInput(f"unknown SKU field {k}")
    return out


async def _check_codes_free(session: AsyncSession, codes: Sequence[str], *, except_sku: int | None = None) -> None:
    dupes = {c for c in codes if codes.count(c) > 1}
    if dupes:
        raise InvalidInput(f"duplicate SKU code {sorted(dupes)[0]!r}")
    taken = (await session.execute(select(Sku.id, Sku.code).where(Sku.code.in_(list(codes))))).all()
    taken = [t for t in taken if t.id != except_sku]
    if taken:
        raise Conflict(f"SKU code {taken[0].code!r} is already used by SKU {taken[0].id}")


async def create_product(
    session: AsyncSession, actor: Actor, *, skus: Iterable[Mapping[str, Any]] = (), **values: Any
) -> tuple[Product, list[Sku]]:
    if "title" not in values or "category_id" not in values:
        raise InvalidInput("title and category_id are required")
    clean = product_values(values)
    await get_category(session, clean["category_id"])
    sku_rows = [sku_values(s) for s in skus]
    for s in sku_rows:
        if "code" not in s or "base_price_fen" not in s:
            raise InvalidInput("every SKU needs a code and a base_price_fen")
    await _check_codes_free(session, [s["code"] for s in sku_rows])
    product = Product(**clean)
    session.add(product)
    await session.flush()
    made = [Sku(product_id=product.id, **s) for s in sku_rows]
    session.add_all(made)
    await session.flush()
    await record_audit(
        session,
        actor,
        "product.create",
        "product",
        product.id,
        after={"title": product.title, "skus": {s.code: s.base_price_fen for s in made}},
    )
    mark_catalogue_changed(session)
    return product, made


async def update_product(session: AsyncSession, product_id: int, changes: Mapping[str, Any], actor: Actor) -> Product:
    product = await get_product(session, product_id)
    clean = product_values(changes)
    if "category_id" in clean:
        await get_category(session, clean["category_id"])
    before = {k: getattr(product, k) for k in clean}
    for k, v in clean.items():
        setattr(product, k, v)
    await session.flush()
    await record_audit(session, actor, "product.update", "product", product_id, before=before, after=clean)
    mark_catalogue_changed(session)
    return product


async def create_sku(session: AsyncSession, actor: Actor, *, product_id: int, **values: Any) -> Sku:
    await get_product(session, product_id)
    clean = sku_values(values)
    if "code" not in clean or "base_price_fen" not in clean:
        raise InvalidInput("a SKU needs a code and a base_price_fen")
    await _check_codes_free(session, [clean["code"]])
    sku = Sku(product_id=product_id, **clean)
    session.add(sku)
    await session.flush()
    await record_audit(
        session, actor, "sku.create", "sku", sku.id, after={"code": sku.code, "base_price_fen": sku.base_price_fen}
    )
    mark_catalogue_changed(session)
    return sku


async def update_sku(session: AsyncSession, sku_id: int, changes: Mapping[str, Any], actor: Actor) -> Sku:
    sku = await get_sku(session, sku_id)
    clean = sku_values(changes)
    if "code" in clean:
        await _check_codes_free(session, [clean["code"]], except_sku=sku_id)
    before = {k: getattr(sku, k) for k in clean}
    changed = {k: v for k, v in clean.items() if before[k] != v}
    if not changed:
        return sku
    for k, v in changed.items():
        setattr(sku, k, v)
    await session.flush()
    action = "price.base" if "base_price_fen" in changed else "sku.update"
    await record_audit(session, actor, action, "sku", sku_id, before={k: before[k] for k in changed}, after=changed)
    mark_catalogue_changed(session)
    return sku


# --- per-store listing and price -------------------------------------------------------------------------


async def set_listing(
    session: AsyncSession,
    store_id: int,
    sku_id: int,
    actor: Actor,
    *,
    price_fen: int | None = UNSET,
    listed: bool = UNSET,
) -> StoreListing:
    """List a SKU at a store and/or set its store price (None = the base price)."""
    from shop.stores.services import get_store

    await get_store(session, store_id)
    await get_sku(session, sku_id)
    if price_fen is not UNSET and price_fen is not None:
        price_fen = check_price(price_fen)
    if listed is not UNSET and not isinstance(listed, bool):
        raise InvalidInput("listed must be true or false")
    current = await session.scalar(
        select(StoreListing).where(StoreListing.store_id == store_id, StoreListing.sku_id == sku_id).with_for_update()
    )
    before = {"price_fen": current.price_fen, "listed": current.listed} if current else None
    values = {
        "price_fen": (current.price_fen if current else None) if price_fen is UNSET else price_fen,
        "listed": (current.listed if current else True) if listed is UNSET else listed,
    }
    insert = pg_insert(StoreListing).values(store_id=store_id, sku_id=sku_id, **values)
    stmt = insert.on_conflict_do_update(
        index_elements=[StoreListing.store_id, StoreListing.sku_id],
        set_={**values, "updated_at": insert.excluded.updated_at},
    ).returning(StoreListing)
    row = (await session.scalars(stmt, execution_options={"populate_existing": True})).one()
    if before != values:
        action = "price.store" if before is None or before["price_fen"] != values["price_fen"] else "listing.set"
        await record_audit(
            session, actor, action, "listing", f"{store_id}:{sku_id}", store_id=store_id, before=before, after=values
        )
        mark_store_catalogue_changed(session, store_id)
    return row
