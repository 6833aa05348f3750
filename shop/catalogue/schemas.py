"""API shapes for catalogue management: categories, products, SKUs, per-store listings."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType

from shop.catalogue.models import Product, Sku, StoreListing
from shop.catalogue.services import MAX_PRICE_FEN

PriceFen = Annotated[int, Meta(ge=0, le=MAX_PRICE_FEN, description="integer fen (¥12.50 = 1250)")]
SkuCode = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Title = Annotated[str, Meta(min_length=1, max_length=120)]
Tags = Annotated[list[Annotated[str, Meta(min_length=1, max_length=32)]], Meta(max_length=20)]
Urls = Annotated[list[Annotated[str, Meta(max_length=500)]], Meta(max_length=10)]


class CategoryIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=50)]
    parent_id: int | None = None
    sort_order: int = 0


class CategoryPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=50)] | UnsetType = UNSET
    parent_id: int | UnsetType | None = UNSET
    sort_order: int | UnsetType = UNSET
    active: bool | UnsetType = UNSET


class CategoryOut(msgspec.Struct):
    id: int
    name: str
    parent_id: int | None
    sort_order: int
    active: bool


class SkuIn(msgspec.Struct, forbid_unknown_fields=True):
    code: SkuCode
    base_price_fen: PriceFen
    spec: Annotated[str, Meta(max_length=100)] = ""
    barcode: Annotated[str, Meta(max_length=32)] | None = None


class SkuPatch(msgspec.Struct, forbid_unknown_fields=True):
    code: SkuCode | UnsetType = UNSET
    base_price_fen: PriceFen | UnsetType = UNSET
    spec: Annotated[str, Meta(max_length=100)] | UnsetType = UNSET
    barcode: Annotated[str, Meta(max_length=32)] | UnsetType | None = UNSET
    active: bool | UnsetType = UNSET


class SkuOut(msgspec.Struct):
    id: int
    product_id: int
    code: str
    spec: str
    barcode: str | None
    base_price_fen: int
    active: bool

    @classmethod
    def of(cls, s: Sku) -> SkuOut:
        return cls(s.id, s.product_id, s.code, s.spec, s.barcode, s.base_price_fen, s.active)


class ProductIn(msgspec.Struct, forbid_unknown_fields=True):
    category_id: int
    title: Title
    subtitle: Annotated[str, Meta(max_length=200)] = ""
    description: Annotated[str, Meta(max_length=5000)] = ""
    image_urls: Urls = []
    tags: Tags = []
    prescription_required: bool = False
    skus: Annotated[list[SkuIn], Meta(max_length=50)] = []


class ProductPatch(msgspec.Struct, forbid_unknown_fields=True):
    category_id: int | UnsetType = UNSET
    title: Title | UnsetType = UNSET
    subtitle: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    description: Annotated[str, Meta(max_length=5000)] | UnsetType = UNSET
    image_urls: Urls | UnsetType = UNSET
    tags: Tags | UnsetType = UNSET
    prescription_required: bool | UnsetType = UNSET
    active: bool | UnsetType = UNSET


class ProductOut(msgspec.Struct):
    id: int
    category_id: int
    title: str
    subtitle: str
    description: str
    image_urls: list[str]
    tags: list[str]
    prescription_required: bool
    active: bool
    skus: list[SkuOut]

    @classmethod
    def of(cls, p: Product, skus: list[Sku]) -> ProductOut:
        return cls(
            p.id,
            p.category_id,
            p.title,
            p.subtitle,
            p.description,
            list(p.image_urls),
            list(p.tags),
            p.prescription_required,
            p.active,
            [SkuOut.of(s) for s in skus],
        )


class ProductPage(msgspec.Struct):
    items: list[ProductOut]
    total: int
    page: int
    page_size: int


class ListingIn(msgspec.Struct, forbid_unknown_fields=True):
    price_fen: PriceFen | UnsetType | None = UNSET
    listed: bool | UnsetType = UNSET


class ListingOut(msgspec.Struct):
    store_id: int
    sku_id: int
    price_fen: int | None
    listed: bool
    effective_price_fen: int | None = None

    @classmethod
    def of(cls, row: StoreListing, base_price_fen: int | None = None) -> ListingOut:
        effective = row.price_fen if row.price_fen is not None else base_price_fen
        return cls(row.store_id, row.sku_id, row.price_fen, row.listed, effective)


class ListingPage(msgspec.Struct):
    items: list[ListingOut]
    total: int
    page: int
    page_size: int
