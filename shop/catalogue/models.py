"""Catalogue tables: category tree, products, SKUs, and each store's listing and price override."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import AuditMixin, Base


class Category(AuditMixin, Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(50))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (UniqueConstraint("parent_id", "name", postgresql_nulls_not_distinct=True),)


class Product(AuditMixin, Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(120))
    subtitle: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    image_urls: Mapped[list[str]] = mapped_column(ARRAY(String(500)), default=list)
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    # 处方药: the orders domain requires a pharmacist review before fulfilment.
    prescription_required: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        Index("ix_products_category_id", "category_id"),
        Index("ix_products_title_trgm", "title", postgresql_using="gin", postgresql_ops={"title": "gin_trgm_ops"}),
        Index(
            "ix_products_subtitle_trgm",
            "subtitle",
            postgresql_using="gin",
            postgresql_ops={"subtitle": "gin_trgm_ops"},
        ),
    )


class Sku(AuditMixin, Base):
    __tablename__ = "skus"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    spec: Mapped[str] = mapped_column(String(100), default="")
    barcode: Mapped[str | None] = mapped_column(String(32))
    base_price_fen: Mapped[int]
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        CheckConstraint("base_price_fen >= 0", name="base_price_fen"),
        Index("ix_skus_product_id", "product_id"),
        Index("ix_skus_barcode", "barcode"),
    )


class StoreListing(Base):
    """A SKU sold at a store, optionally at the store's own price."""

    __tablename__ = "store_listings"

    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), primary_key=True)
    price_fen: Mapped[int | None]
    listed: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now, server_default=func.now())

    __table_args__ = (
        CheckConstraint("price_fen IS NULL OR price_fen >= 0", name="price_fen"),
        Index("ix_store_listings_sku_id", "sku_id"),
    )
