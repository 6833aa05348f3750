"""Shop test helpers: plain factories that write through the services, tokens for each kind of caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select, text

from core.auth import issue_token
from core.db import sessionmaker, unit_of_work
from core.users import User, hash_password
from shop.after_commit import drain
from shop.audit import SYSTEM
from shop.catalogue import local_cache
from shop.catalogue.cache import flush_stock_bumps
from shop.catalogue.services import create_category, create_product, set_listing
from shop.stock.services import adjust_stock
from shop.stores.hours import interval_from_text
from shop.stores.services import create_store, set_staff_stores, set_weekly_hours

_HASH: str | None = None


@pytest.fixture(autouse=True)
async def _settle_after_commit() -> AsyncIterator[None]:
    """No after-commit work of one test may land in the next test's Redis, and no page cached in this
    process by one test may answer the next (the database ids restart at 1)."""
    local_cache.forget_local()
    yield
    await drain()
    await flush_stock_bumps()
    local_cache.forget_local()


@pytest.fixture(scope="session", autouse=True)
async def _stop_catalogue_listener(database: str) -> AsyncIterator[None]:
    yield
    await local_cache.stop()


async def count(table: str, where: str = "TRUE", **params: Any) -> int:
    async with sessionmaker()() as s:
        return int((await s.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"), params)).scalar_one())


async def scalar(sql: str, **params: Any) -> Any:
    async with sessionmaker()() as s:
        return (await s.execute(text(sql), params)).scalar()


async def execute(sql: str, **params: Any) -> None:
    async with unit_of_work() as s:
        await s.execute(text(sql), params)


async def make_store(
    code: str = "S1", *, lat: float = 31.23, lng: float = 121.47, hours: str = "24h", **kw: Any
) -> int:
    async with unit_of_work() as s:
        store = await create_store(
            s,
            SYSTEM,
            code=code,
            name=kw.pop("name", f"店{code}"),
            lat=lat,
            lng=lng,
            radius_m=kw.pop("radius_m", 3000),
            **kw,
        )
        weekly = (
            [(wd, interval_from_text("00:00", "24:00")) for wd in range(7)]
            if hours == "24h"
            else [(wd, interval_from_text(*hours.split("-"))) for wd in range(7)]
        )
        await set_weekly_hours(s, store.id, weekly, SYSTEM)
        return store.id


@dataclass
class Catalogue:
    category_id: int
    product_id: int
    sku_ids: list[int]


async def make_product(
    title: str = "999感冒灵颗粒",
    skus: list[tuple[str, int]] | None = None,
    *,
    category: str = "感冒发烧",
    **kw: Any,
) -> Catalogue:
    async with unit_of_work() as s:
        from shop.catalogue.models import Category

        cid = await s.scalar(select(Category.id).where(Category.name == category))
        if cid is None:
            cid = (await create_category(s, SYSTEM, name=category)).id
        product, made = await create_product(
            s,
            SYSTEM,
            category_id=cid,
            title=title,
            skus=[{"code": c, "base_price_fen": p} for c, p in (skus or [("SKU-1", 1580)])],
            **kw,
        )
        return Catalogue(cid, product.id, [m.id for m in made])


async def list_at(store_id: int, sku_id: int, *, price_fen: int | None = None, on_hand: int = 0) -> None:
    async with unit_of_work() as s:
        await set_listing(s, store_id, sku_id, SYSTEM, price_fen=price_fen, listed=True)
        if on_hand:
            await adjust_stock(s, store_id, sku_id, SYSTEM, on_hand=on_hand, reason="test stock")


async def make_user(username: str, role: str, store_ids: list[int] | None = None) -> int:
    global _HASH
    _HASH = _HASH or hash_password("password-123")
    async with unit_of_work() as s:
        user = User(username=username, password_hash=_HASH, role=role, display_name=username)
        s.add(user)
        await s.flush()
        if store_ids:
            await set_staff_stores(s, user.id, store_ids, SYSTEM)
        return user.id


def bearer(kind: str, subject_id: int, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(kind, subject_id, role)}"}


async def stock_of(store_id: int, sku_id: int) -> tuple[int, int]:
    async with sessionmaker()() as s:
        row = (
            await s.execute(
                text("SELECT on_hand, reserved FROM stock_levels WHERE store_id = :s AND sku_id = :k"),
                {"s": store_id, "k": sku_id},
            )
        ).first()
        return (row[0], row[1]) if row else (0, 0)


async def movement_sums(store_id: int, sku_id: int) -> tuple[int, int]:
    async with sessionmaker()() as s:
        row = (
            await s.execute(
                select(
                    func.coalesce(func.sum(text("on_hand_delta")), 0),
                    func.coalesce(func.sum(text("reserved_delta")), 0),
                )
                .select_from(text("stock_movements"))
                .where(text("store_id = :s AND sku_id = :k"))
                .params(s=store_id, k=sku_id)
            )
        ).one()
        return int(row[0]), int(row[1])
