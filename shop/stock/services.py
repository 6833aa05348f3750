"""Stock operations for staff and admins: receive, adjust (never below what is reserved), read levels and movements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InvalidInput
from shop.audit import Actor, record_audit
from shop.catalogue.models import Product, Sku
from shop.catalogue.services import get_sku
from shop.errors import StockBelowReserved
from shop.pagination import Page, check_page
from shop.stock.locks import lock_stock_rows
from shop.stock.models import StockLevel, StockMovement
from shop.stock.seam import MAX_QTY, Delta, apply_deltas
from shop.stores.services import get_store


@dataclass(frozen=True)
class LevelView:
    store_id: int
    sku_id: int
    on_hand: int
    reserved: int
    sku_code: str = ""
    title: str = ""
    spec: str = ""

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def _qty(value: object, field: str, *, allow_negative: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be a whole number")
    if abs(value) > MAX_QTY or (value < 0 and not allow_negative):
        raise InvalidInput(f"{field} must be between {-MAX_QTY if allow_negative else 0} and {MAX_QTY}")
    return value


def _reason(reason: object) -> str:
    if not isinstance(reason, str) or not 1 <= len(reason.strip()) <= 200:
        raise InvalidInput("a reason (1–200 characters) is required for a stock change")
    return reason.strip()


async def ensure_levels(session: AsyncSession, store_id: int, sku_ids: Sequence[int]) -> None:
    """Create empty stock rows where none exist yet (the movement log then starts from zero)."""
    if sku_ids:
        await session.execute(
            pg_insert(StockLevel)
            .values([{"store_id": store_id, "sku_id": s, "on_hand": 0, "reserved": 0} for s in sku_ids])
            .on_conflict_do_nothing(index_elements=[StockLevel.store_id, StockLevel.sku_id])
        )


async def adjust_stock(
    session: AsyncSession,
    store_id: int,
    sku_id: int,
    actor: Actor,
    *,
    delta: int | None = None,
    on_hand: int | None = None,
    reason: str,
    kind: str = "adjust",
) -> LevelView:
    """Change on_hand by `delta` or set it to `on_hand` (a stocktake); never below the reserved units."""
    if (delta is None) == (on_hand is None):
        raise InvalidInput("give either delta or on_hand")
    if delta is not None:
        _qty(delta, "delta", allow_negative=True)
    if on_hand is not None:
        _qty(on_hand, "on_hand")
    why = _reason(reason)
    await get_store(session, store_id)
    await get_sku(session, sku_id)
    await ensure_levels(session, store_id, [sku_id])
    level = (await lock_stock_rows(session, [(store_id, sku_id)]))[(store_id, sku_id)]
    target = level.on_hand + delta if delta is not None else on_hand
    assert target is not None
    if target < 0:
        raise StockBelowReserved(f"SKU {sku_id} at store {store_id} has {level.on_hand} on hand; it cannot go below 0")
    if target < level.reserved:
        raise StockBelowReserved(
            f"SKU {sku_id} at store {store_id}: {level.reserved} units are reserved for orders, so on_hand "
            f"cannot go below {level.reserved} (asked {target})",
            extra={"reserved": level.reserved, "on_hand": level.on_hand},
        )
    if target != level.on_hand:
        await apply_deltas(
            session,
            [Delta(store_id, sku_id, target - level.on_hand, 0, kind)],
            ref=None,
            reason=why,
            actor=actor.label,
        )
        await record_audit(
            session,
            actor,
            f"stock.{kind}",
            "stock",
            f"{store_id}:{sku_id}",
            store_id=store_id,
            before={"on_hand": level.on_hand},
            after={"on_hand": target},
            reason=why,
        )
    return LevelView(store_id, sku_id, target, level.reserved)


async def receive_stock(
    session: AsyncSession, store_id: int, sku_id: int, qty: int, actor: Actor, *, reason: str = "goods received"
) -> LevelView:
    if _qty(qty, "qty") <= 0:
        raise InvalidInput("qty must be at least 1")
    return await adjust_stock(session, store_id, sku_id, actor, delta=qty, reason=reason, kind="receive")


async def stock_page(
    session: AsyncSession, store_id: int, *, page: int = 1, page_size: int = 50, low_only: bool = False
) -> Page[LevelView]:
    limit, offset = check_page(page, page_size)
    q = (
        select(
            StockLevel.store_id,
            StockLevel.sku_id,
            StockLevel.on_hand,
            StockLevel.reserved,
            Sku.code,
            Product.title,
            Sku.spec,
        )
        .join(Sku, Sku.id == StockLevel.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .where(StockLevel.store_id == store_id)
    )
    if low_only:
        q = q.where(StockLevel.on_hand - StockLevel.reserved <= 5)
    total = await session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = (await session.execute(q.order_by(StockLevel.sku_id).limit(limit).offset(offset))).all()
    return Page([LevelView(*r) for r in rows], total, page, page_size)


async def get_level(session: AsyncSession, store_id: int, sku_id: int) -> LevelView:
    row = (
        await session.execute(
            select(StockLevel.on_hand, StockLevel.reserved).where(
                and_(StockLevel.store_id == store_id, StockLevel.sku_id == sku_id)
            )
        )
    ).first()
    return LevelView(store_id, sku_id, row.on_hand if row else 0, row.reserved if row else 0)


@dataclass(frozen=True)
class MovementView:
    id: int
    sku_id: int
    kind: str
    on_hand_delta: int
    reserved_delta: int
    ref: str | None
    actor: str
    reason: str
    created_at: datetime


async def movements_page(
    session: AsyncSession, store_id: int, *, sku_id: int | None = None, page: int = 1, page_size: int = 50
) -> Page[MovementView]:
    limit, offset = check_page(page, page_size)
    q = select(StockMovement).where(StockMovement.store_id == store_id)
    if sku_id is not None:
        q = q.where(StockMovement.sku_id == sku_id)
    total = await session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = (await session.scalars(q.order_by(StockMovement.id.desc()).limit(limit).offset(offset))).all()
    return Page(
        [
            MovementView(
                m.id, m.sku_id, m.kind, m.on_hand_delta, m.reserved_delta, m.ref, m.actor, m.reason, m.created_at
            )
            for m in rows
        ],
        total,
        page,
        page_size,
    )
