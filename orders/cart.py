"""The server-side cart: one per customer per store, remembering the price each item had when added."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput
from orders.checkout import MAX_LINES, MAX_QTY
from orders.errors import UnknownSku


@dataclass(frozen=True, slots=True)
class CartItem:
    sku_id: int
    product_id: int
    title: str
    spec: str
    qty: int
    price_seen_fen: int
    price_fen: int  # now
    sellable: bool
    prescription_required: bool

    @property
    def price_changed(self) -> bool:
        return self.price_fen != self.price_seen_fen


@dataclass(frozen=True, slots=True)
class Cart:
    store_id: int
    items: list[CartItem]

    @property
    def items_fen(self) -> int:
        return sum(x.price_fen * x.qty for x in self.items if x.sellable)


_PRICE = text(
    """
    SELECT coalesce(l.price_fen, k.base_price_fen) AS price_fen, coalesce(l.listed AND k.active AND p.active, false) AS ok,
           p.title
    FROM skus k JOIN products p ON p.id = k.product_id
    LEFT JOIN store_listings l ON l.store_id = :store_id AND l.sku_id = k.id
    WHERE k.id = :sku_id
    """
)
_UPSERT = text(
    """
    INSERT INTO cart_lines (customer_id, store_id, sku_id, qty, price_seen_fen, updated_at)
    SELECT :customer_id, :store_id, :sku_id, :qty, :price, :now
    WHERE (SELECT count(*) FROM cart_lines WHERE customer_id = :customer_id AND store_id = :store_id
              AND sku_id <> :sku_id) < :max_lines
    ON CONFLICT (customer_id, store_id, sku_id)
    DO UPDATE SET qty = EXCLUDED.qty, price_seen_fen = EXCLUDED.price_seen_fen, updated_at = EXCLUDED.updated_at
    RETURNING sku_id
    """
)
_REMOVE = text("DELETE FROM cart_lines WHERE customer_id = :customer_id AND store_id = :store_id AND sku_id = :sku_id")
_CLEAR = text("DELETE FROM cart_lines WHERE customer_id = :customer_id AND store_id = :store_id")
_READ = text(
    """
    SELECT c.sku_id, p.id AS product_id, p.title, k.spec, c.qty, c.price_seen_fen,
           coalesce(l.price_fen, k.base_price_fen) AS price_fen,
           coalesce(l.listed AND k.active AND p.active, false) AS sellable, p.prescription_required
    FROM cart_lines c JOIN skus k ON k.id = c.sku_id JOIN products p ON p.id = k.product_id
    LEFT JOIN store_listings l ON l.store_id = c.store_id AND l.sku_id = c.sku_id
    WHERE c.customer_id = :customer_id AND c.store_id = :store_id
    ORDER BY c.updated_at, c.sku_id
    """
)


async def get_cart(session: AsyncSession, customer_id: int, store_id: int) -> Cart:
    rows = (await session.execute(_READ, {"customer_id": customer_id, "store_id": store_id})).all()
    return Cart(store_id, [CartItem(*r) for r in rows])


async def set_cart_item(session: AsyncSession, customer_id: int, store_id: int, sku_id: int, qty: int) -> Cart:
    """Put `qty` of the SKU in the cart (0 removes it); the price seen is the store's price now."""
    if isinstance(qty, bool) or not isinstance(qty, int) or not 0 <= qty <= MAX_QTY:
        raise InvalidInput(f"quantity must be between 0 (remove) and {MAX_QTY}, got {qty}")
    params = {"customer_id": customer_id, "store_id": store_id, "sku_id": sku_id}
    if qty == 0:
        await session.execute(_REMOVE, params)
        return await get_cart(session, customer_id, store_id)
    found = (await session.execute(_PRICE, {"store_id": store_id, "sku_id": sku_id})).first()
    if found is None:
        raise UnknownSku(f"SKU {sku_id} does not exist")
    if not found.ok:
        raise UnknownSku(f"{found.title} (SKU {sku_id}) is not sold at store {store_id}")
    hit = await session.scalar(
        _UPSERT, {**params, "qty": qty, "price": found.price_fen, "now": clock.now(), "max_lines": MAX_LINES}
    )
    if hit is None:
        raise InvalidInput(f"a cart holds at most {MAX_LINES} different items")
    return await get_cart(session, customer_id, store_id)


async def clear_cart(session: AsyncSession, customer_id: int, store_id: int) -> None:
    await session.execute(_CLEAR, {"customer_id": customer_id, "store_id": store_id})
