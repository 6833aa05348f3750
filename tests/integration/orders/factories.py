"""Plain factories for order tests: an official account, customers, stores open around the clock, SKUs, stock."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import issue_token
from core.db import unit_of_work
from core.users import create_user

_seq = itertools.count(1)

# People's Square, Shanghai, and points at known distances north of it (1° latitude ≈ 111.2 km).
BASE_LAT, BASE_LNG = 31.2304, 121.4737


def north(metres: float) -> tuple[float, float]:
    return BASE_LAT + metres / 111_195.0, BASE_LNG


@dataclass
class World:
    account_id: int
    store_id: int
    customer_id: int
    sku_id: int
    price_fen: int


async def make_account(s: AsyncSession) -> int:
    n = next(_seq)
    return int(
        await s.scalar(
            text("INSERT INTO official_accounts (appid, name) VALUES (:a, 'test') RETURNING id"), {"a": f"wxtest{n}"}
        )
    )


async def make_customer(s: AsyncSession, account_id: int) -> int:
    return int(
        await s.scalar(
            text("INSERT INTO customers (account_id, openid) VALUES (:a, :o) RETURNING id"),
            {"a": account_id, "o": f"openid-{next(_seq)}"},
        )
    )


async def make_address(s: AsyncSession, customer_id: int, lat: float, lng: float) -> int:
    return int(
        await s.scalar(
            text(
                "INSERT INTO customer_addresses (customer_id, contact_name, phone, address, detail, lat, lng) "
                "VALUES (:c, '张三', '13800000000', '人民大道 1 号', '3 楼', :lat, :lng) RETURNING id"
            ),
            {"c": customer_id, "lat": lat, "lng": lng},
        )
    )


async def make_store(
    s: AsyncSession,
    *,
    lat: float = BASE_LAT,
    lng: float = BASE_LNG,
    radius_m: int = 5000,
    partner: bool = True,
    hq: bool = False,
    always_open: bool = True,
    status: str = "active",
) -> int:
    n = next(_seq)
    store_id = int(
        await s.scalar(
            text(
                "INSERT INTO stores (code, name, lat, lng, radius_m, is_partner, is_hq, status, urgent_capacity) "
                "VALUES (:c, :n, :lat, :lng, :r, :p, :hq, :st, 5) RETURNING id"
            ),
            {
                "c": f"S{n}",
                "n": f"测试门店 {n}",
                "lat": lat,
                "lng": lng,
                "r": radius_m,
                "p": partner,
                "hq": hq,
                "st": status,
            },
        )
    )
    if always_open:
        await s.execute(
            text(
                "INSERT INTO store_hours (store_id, weekday, open_min, close_min) "
                "SELECT :s, d, 0, 1440 FROM generate_series(0, 6) d"
            ),
            {"s": store_id},
        )
    return store_id


async def make_sku(
    s: AsyncSession, *, price_fen: int = 1000, prescription: bool = False, title: str | None = None
) -> int:
    n = next(_seq)
    cat = await s.scalar(text("SELECT id FROM categories WHERE name = '测试'"))
    if cat is None:
        cat = await s.scalar(text("INSERT INTO categories (name) VALUES ('测试') RETURNING id"))
    product = await s.scalar(
        text("INSERT INTO products (category_id, title, prescription_required) VALUES (:c, :t, :rx) RETURNING id"),
        {"c": cat, "t": title or f"商品 {n}", "rx": prescription},
    )
    return int(
        await s.scalar(
            text("INSERT INTO skus (product_id, code, spec, base_price_fen) VALUES (:p, :c, '盒', :f) RETURNING id"),
            {"p": product, "c": f"SKU{n}", "f": price_fen},
        )
    )


async def list_sku(
    s: AsyncSession, store_id: int, sku_id: int, *, price_fen: int | None = None, listed: bool = True, stock: int = 100
) -> None:
    await s.execute(
        text(
            "INSERT INTO store_listings (store_id, sku_id, price_fen, listed) VALUES (:s, :k, :p, :l) "
            "ON CONFLICT (store_id, sku_id) DO UPDATE SET price_fen = EXCLUDED.price_fen, listed = EXCLUDED.listed"
        ),
        {"s": store_id, "k": sku_id, "p": price_fen, "l": listed},
    )
    if stock:
        await receive_stock(s, store_id, sku_id, stock)


async def receive_stock(s: AsyncSession, store_id: int, sku_id: int, qty: int) -> None:
    """Goods in: the level and its movement row (so the movement log balances)."""
    await s.execute(
        text(
            "INSERT INTO stock_levels (store_id, sku_id, on_hand, reserved) VALUES (:s, :k, :q, 0) "
            "ON CONFLICT (store_id, sku_id) DO UPDATE SET on_hand = stock_levels.on_hand + EXCLUDED.on_hand"
        ),
        {"s": store_id, "k": sku_id, "q": qty},
    )
    await s.execute(
        text(
            "INSERT INTO stock_movements (store_id, sku_id, kind, on_hand_delta, reserved_delta, ref, actor, reason, "
            "created_at) VALUES (:s, :k, 'receive', :q, 0, 'test', 'test', 'received', now())"
        ),
        {"s": store_id, "k": sku_id, "q": qty},
    )


async def world(*, price_fen: int = 1000, stock: int = 100, radius_m: int = 5000, prescription: bool = False) -> World:
    """An account, one 24-hour partner store, one customer, one listed SKU with stock."""
    async with unit_of_work() as s:
        account = await make_account(s)
        store = await make_store(s, radius_m=radius_m)
        customer = await make_customer(s, account)
        sku = await make_sku(s, price_fen=price_fen, prescription=prescription)
        await list_sku(s, store, sku, stock=stock)
    return World(account, store, customer, sku, price_fen)


async def level(store_id: int, sku_id: int) -> tuple[int, int]:
    async with unit_of_work() as s:
        row = (
            await s.execute(
                text("SELECT on_hand, reserved FROM stock_levels WHERE store_id = :s AND sku_id = :k"),
                {"s": store_id, "k": sku_id},
            )
        ).one()
    return int(row.on_hand), int(row.reserved)


async def movements_balance(store_id: int, sku_id: int) -> bool:
    """The sums of the movement deltas equal the level."""
    async with unit_of_work() as s:
        row = (
            await s.execute(
                text(
                    "SELECT l.on_hand, l.reserved, sum(m.on_hand_delta) AS dh, sum(m.reserved_delta) AS dr "
                    "FROM stock_levels l JOIN stock_movements m ON m.store_id = l.store_id AND m.sku_id = l.sku_id "
                    "WHERE l.store_id = :s AND l.sku_id = :k GROUP BY l.on_hand, l.reserved"
                ),
                {"s": store_id, "k": sku_id},
            )
        ).one()
    return row.on_hand == row.dh and row.reserved == row.dr


async def count(sql: str, **params: object) -> int:
    async with unit_of_work() as s:
        return int(await s.scalar(text(sql), params) or 0)


def customer_headers(customer_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token('customer', customer_id, 'customer')}"}


async def staff_user(username: str, role: str = "staff", stores: list[int] | None = None) -> tuple[int, dict[str, str]]:
    async with unit_of_work() as s:
        user = await create_user(s, username=username, password="correct horse", role=role)
        for store_id in stores or []:
            await s.execute(
                text("INSERT INTO store_staff (store_id, user_id) VALUES (:s, :u)"), {"s": store_id, "u": user.id}
            )
    return user.id, {"Authorization": f"Bearer {issue_token('user', user.id, role)}"}
