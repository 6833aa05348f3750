"""CSV import of the catalogue: categories (paths like 药品/感冒发烧), products and SKUs, upserted by SKU code.

Streamed in batches inside the caller's one transaction: any bad row and the caller rolls the whole
file back (ImportFailed lists the lines). Base-price changes are audited like any other price change.

Columns: category, title, sku_code, price (yuan, e.g. 12.50) — required; subtitle, spec, barcode,
prescription_required (1/0), tags and image_urls (separated by |), description, active — optional.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import DomainError
from core.money import MoneyError, yuan_to_fen
from shop.audit import Actor, AuditEntry
from shop.catalogue.cache import mark_catalogue_changed
from shop.catalogue.models import Category, Product, Sku
from shop.catalogue.services import check_price, product_values, sku_values
from shop.csv_rows import Errors, parse_bool, parse_list, read_rows

REQUIRED = ("category", "title", "sku_code", "price")
OPTIONAL = ("subtitle", "spec", "barcode", "prescription_required", "tags", "image_urls", "description", "active")
BATCH = 500


@dataclass
class CatalogueImportResult:
    rows: int = 0
    categories_created: int = 0
    products_created: int = 0
    products_updated: int = 0
    skus_created: int = 0
    skus_updated: int = 0
    prices_changed: int = 0


@dataclass
class _Row:
    line: int
    path: tuple[str, ...]
    product: dict[str, Any]
    sku: dict[str, Any]


def _parse(line: int, raw: dict[str, str]) -> _Row:
    path = tuple(p.strip() for p in raw["category"].split("/") if p.strip())
    if not path or any(len(p) > 50 for p in path):
        raise DomainError("category must be a path like 药品/感冒发烧 (each part at most 50 characters)")
    try:
        price = yuan_to_fen(raw["price"])
    except MoneyError as exc:
        raise DomainError(f"price: {exc}") from None
    product: dict[str, Any] = {"title": raw["title"]}
    for col in ("subtitle", "description"):
        if col in raw:
            product[col] = raw[col]
    if "tags" in raw:
        product["tags"] = parse_list(raw["tags"])
    if "image_urls" in raw:
        product["image_urls"] = parse_list(raw["image_urls"])
    if "prescription_required" in raw:
        product["prescription_required"] = parse_bool(raw["prescription_required"], "prescription_required")
    product = product_values(product)
    sku: dict[str, Any] = {"code": raw["sku_code"], "base_price_fen": check_price(price, "price")}
    if "spec" in raw:
        sku["spec"] = raw["spec"]
    if raw.get("barcode"):
        sku["barcode"] = raw["barcode"]
    if "active" in raw and raw["active"] != "":
        sku["active"] = parse_bool(raw["active"], "active")
    return _Row(line, path, product, sku_values(sku))


class _Importer:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.s = session
        self.actor = actor
        self.result = CatalogueImportResult()
        self.categories: dict[tuple[str, ...], int] = {}
        self.products: dict[tuple[int, str], int] = {}
        self.updated_products: set[int] = set()

    async def category(self, path: tuple[str, ...]) -> int:
        parent: int | None = None
        for depth in range(1, len(path) + 1):
            key = path[:depth]
            if key not in self.categories:
                name = key[-1]
                found = await self.s.scalar(
                    select(Category.id).where(Category.parent_id.is_not_distinct_from(parent), Category.name == name)
                )
                if found is None:
                    found = await self.s.scalar(
                        insert(Category)
                        .values(name=name, parent_id=parent, sort_order=0, active=True)
                        .returning(Category.id)
                    )
                    self.result.categories_created += 1
                assert found is not None
                self.categories[key] = found
            parent = self.categories[key]
        assert parent is not None
        return parent

    async def batch(self, rows: list[_Row]) -> None:
        keyed = [((await self.category(r.path)), r) for r in rows]
        wanted = {(cid, r.product["title"]) for cid, r in keyed} - set(self.products)
        if wanted:
            found = await self.s.execute(
                select(Product.id, Product.category_id, Product.title)
                .where(tuple_(Product.category_id, Product.title).in_(list(wanted)))
                .order_by(Product.id.desc())
            )
            for pid, cid, title in found:
                self.products[(cid, title)] = pid  # the oldest wins (ordered newest first)
        new_products: dict[tuple[int, str], dict[str, Any]] = {}
        updates: dict[int, dict[str, Any]] = {}
        for cid, r in keyed:
            key = (cid, r.product["title"])
            if key in self.products:
                pid = self.products[key]
                fields = {k: v for k, v in r.product.items() if k != "title"}
                if fields:
                    updates[pid] = {"id": pid, **fields, "updated_at": clock.now()}
            else:
                new_products.setdefault(key, {**r.product, "category_id": cid})
        if new_products:
            ids = (
                await self.s.scalars(
                    insert(Product).returning(Product.id, sort_by_parameter_order=True), list(new_products.values())
                )
            ).all()
            self.products.update(zip(new_products, ids, strict=True))
            self.result.products_created += len(ids)
        if updates:
            await self.s.execute(update(Product), list(updates.values()))
            fresh = set(updates) - self.updated_products
            self.result.products_updated += len(fresh)
            self.updated_products |= fresh
        await self._skus([(self.products[(cid, r.product["title"])], r) for cid, r in keyed])

    async def _skus(self, rows: list[tuple[int, _Row]]) -> None:
        codes = [r.sku["code"] for _, r in rows]
        existing = {
            code: (sid, price)
            for sid, code, price in await self.s.execute(
                select(Sku.id, Sku.code, Sku.base_price_fen).where(Sku.code.in_(codes))
            )
        }
        now = clock.now()
        new, changed, audits = [], [], []
        for pid, r in rows:
            if r.sku["code"] in existing:
                sid, old = existing[r.sku["code"]]
                changed.append({"id": sid, "product_id": pid, **r.sku, "updated_at": now})
                if old != r.sku["base_price_fen"]:
                    audits.append(
                        {
                            "actor": self.actor.label,
                            "actor_role": self.actor.role,
                            "action": "price.base",
                            "entity": "sku",
                            "entity_id": str(sid),
                            "store_id": None,
                            "before": {"base_price_fen": old},
                            "after": {"base_price_fen": r.sku["base_price_fen"]},
                            "reason": "catalogue import",
                            "at": now,
                        }
                    )
            else:
                new.append({"product_id": pid, "spec": "", "barcode": None, "active": True, **r.sku})
        if new:
            await self.s.execute(insert(Sku), new)
            self.result.skus_created += len(new)
        if changed:
            await self.s.execute(update(Sku), changed)
            self.result.skus_updated += len(changed)
        if audits:
            await self.s.execute(insert(AuditEntry), audits)
            self.result.prices_changed += len(audits)


async def import_catalogue(
    session: AsyncSession,
    lines: Iterable[str],
    actor: Actor,
    *,
    progress: Callable[[int], None] | None = None,
) -> CatalogueImportResult:
    """Import a catalogue CSV in the caller's transaction; ImportFailed (nothing kept) when any row is bad."""
    imp = _Importer(session, actor)
    errors = Errors()
    seen: dict[str, int] = {}
    batch: list[_Row] = []
    rows = 0
    for line, raw in read_rows(lines, required=REQUIRED, optional=OPTIONAL):
        rows += 1
        code = raw["sku_code"]
        if code and code in seen:
            errors.add(line, f"duplicate sku_code {code!r} (also on line {seen[code]})")
            continue
        seen[code] = line
        try:
            parsed = _parse(line, raw)
        except DomainError as exc:
            errors.add(line, exc.detail)
            continue
        if errors:
            continue  # keep validating to report every bad line, but write nothing more
        batch.append(parsed)
        if len(batch) >= BATCH:
            await imp.batch(batch)
            batch = []
            if progress:
                progress(rows)
    if not errors and batch:
        await imp.batch(batch)
    if progress:
        progress(rows)
    if rows == 0:
        errors.add(2, "the file has a header but no rows")
    errors.raise_if_any(rows)
    imp.result.rows = rows
    await _audit_summary(session, actor, imp.result)
    mark_catalogue_changed(session)
    return imp.result


async def _audit_summary(session: AsyncSession, actor: Actor, result: CatalogueImportResult) -> None:
    from dataclasses import asdict

    from shop.audit import record_audit

    await record_audit(session, actor, "catalogue.import", "catalogue", "csv", after=asdict(result))
