"""The discounts and members seams as orders calls them: one adapter, "no discount" until the coupon issue lands.

engineering.md gives shop the discounts seam (`quote_discounts`, `lock_coupon`, `release_coupon`,
`consume_coupon`) and the members seam (`member_pricing`, `hold_stored_value`, `capture_hold`,
`release_hold`, `credit_stored_value`). They are looked up in `shop.discounts` and `shop.members` when
first needed; while a module or function is missing, orders behaves as if no customer had a coupon or
a member card: no discount, coupons refused with a clear message, stored value refused.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Unprocessable
from orders.errors import CouponNotApplicable

_MODULES = {"discounts": "shop.discounts", "members": "shop.members"}
_cache: dict[str, Any] = {}


def _seam(area: str, name: str) -> Any | None:
    key = f"{area}.{name}"
    if key not in _cache:
        try:
            module = importlib.import_module(_MODULES[area])
        except ModuleNotFoundError as exc:
            if exc.name != _MODULES[area]:
                raise
            module = None
        _cache[key] = getattr(module, name, None) if module is not None else None
    return _cache[key]


@dataclass(frozen=True, slots=True)
class DiscountLine:
    sku_id: int
    qty: int
    unit_price_fen: int


@dataclass(frozen=True, slots=True)
class CouponChoice:
    """One of the customer's coupons as the quote shows it: its worth here, or why it does not apply."""

    coupon_id: int
    title: str
    applicable: bool
    reason: str | None
    discount_fen: int


@dataclass(frozen=True, slots=True)
class Discounts:
    coupon_id: int | None = None
    coupon_fen: int = 0
    member_fen: int = 0
    member_card_id: int | None = None
    labels: tuple[str, ...] = ()
    free_delivery: bool = False  # a free-delivery coupon: the quote sets the delivery fee to 0
    coupon_options: tuple[CouponChoice, ...] = ()
    best_coupon_id: int | None = None

    @property
    def amounts(self) -> tuple[int, ...]:
        return (self.coupon_fen, self.member_fen)


NO_DISCOUNT = Discounts()


def _fen(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"{what} must be a non-negative int of fen, got {value!r}")
    return value


UNREAD: Any = object()  # member terms not read yet: discounts_for reads them


def member_terms_column() -> str | None:
    """The members seam's column (SQL with :customer_id) for a read that takes the member terms along."""
    column: str | None = _seam("members", "MEMBER_TERMS_COLUMN")
    return column if _seam("members", "member_terms_from") is not None else None


def member_terms_from(value: Any) -> Any:
    return _seam("members", "member_terms_from")(value)  # type: ignore[misc]


async def discounts_for(
    session: AsyncSession,
    customer_id: int,
    store_id: int,
    lines: Sequence[DiscountLine],
    coupon_id: int | None,
    *,
    coupon_options: bool = False,
    best_coupon: bool = False,
    delivery_fee_fen: int = 0,
    member_terms: Any = UNREAD,
) -> Discounts:
    """Coupon and member discounts for these lines (before the pricing caps of orders.pricing).

    `coupon_options`: list the customer's coupons with their worth or why not; `best_coupon`: without a
    chosen coupon, use the best applicable one. `member_terms`: as read with the checkout (None: no card).
    """
    quote = _seam("discounts", "quote_discounts")
    member_pricing = _seam("members", "member_pricing")
    coupon_fen, member_fen, labels = 0, 0, []
    card_id: int | None = None
    free_delivery, best_id = False, None
    options: tuple[CouponChoice, ...] = ()
    if quote is None:
        if coupon_id is not None:
            raise CouponNotApplicable(f"coupon {coupon_id} cannot be used: coupons are not available yet")
    elif coupon_id is not None or coupon_options or best_coupon:
        q = await quote(
            session,
            customer_id,
            store_id,
            list(lines),
            coupon_id=coupon_id,
            with_options=coupon_options,
            best=best_coupon,
            delivery_fee_fen=delivery_fee_fen,
        )
        coupon_fen = _fen(getattr(q, "coupon_fen", 0), "coupon discount")
        coupon_id = getattr(q, "coupon_id", coupon_id)
        labels += list(getattr(q, "labels", ()))
        free_delivery = bool(getattr(q, "free_delivery", False))
        options = tuple(
            CouponChoice(o.coupon_id, o.title, o.applicable, o.reason, o.discount_fen)
            for o in getattr(q, "options", ())
        )
        best_id = getattr(q, "best_coupon_id", None)
    if member_pricing is not None:
        terms = await member_pricing(session, customer_id) if member_terms is UNREAD else member_terms
        if terms is not None:
            items = sum(x.unit_price_fen * x.qty for x in lines)
            member_fen = _fen(terms.discount_fen(items), "member discount")
            card_id = getattr(terms, "card_id", None)
            labels += list(getattr(terms, "labels", ()))
    if coupon_fen == member_fen == 0 and coupon_id is None and card_id is None and not options and best_id is None:
        return NO_DISCOUNT
    return Discounts(coupon_id, coupon_fen, member_fen, card_id, tuple(labels), free_delivery, options, best_id)


async def lock_coupon(session: AsyncSession, coupon_id: int, order_id: int) -> None:
    fn = _seam("discounts", "lock_coupon")
    if fn is None:
        raise CouponNotApplicable(f"coupon {coupon_id} cannot be used: coupons are not available yet")
    await fn(session, coupon_id, order_id)


async def release_coupon(session: AsyncSession, order_id: int) -> None:
    fn = _seam("discounts", "release_coupon")
    if fn is not None:
        await fn(session, order_id)


async def consume_coupon(session: AsyncSession, order_id: int) -> None:
    fn = _seam("discounts", "consume_coupon")
    if fn is not None:
        await fn(session, order_id)


async def hold_stored_value(session: AsyncSession, card_id: int | None, fen: int, ref: str) -> int:
    """Hold `fen` on the customer's card for `ref`; returns the card id held on."""
    fn = _seam("members", "hold_stored_value")
    if fn is None or card_id is None:
        raise Unprocessable("paying with stored value is not available yet (no member card); pay by WeChat Pay")
    await fn(session, card_id, fen, ref)
    return card_id


@dataclass(frozen=True, slots=True)
class PointsUse:
    points: int = 0
    fen: int = 0
    available: int = 0  # the card's points
    max_points: int = 0  # the most this order may spend
    balance_fen: int | None = None  # the card's stored value; None without a card


NO_POINTS = PointsUse()


async def points_for(
    session: AsyncSession, customer_id: int, card_id: int | None, points: int, goods_fen: int
) -> PointsUse:
    """What spending `points` takes off goods worth `goods_fen` (after discounts); refused clearly when not possible."""
    fn = _seam("members", "points_use")
    if fn is None or card_id is None:
        if points:
            raise Unprocessable("您还没有会员卡，不能使用积分抵扣")
        return NO_POINTS
    use = await fn(session, card_id, points, goods_fen)
    return PointsUse(use.points, use.fen, use.available, use.max_points, use.balance_fen)


async def hold_points(session: AsyncSession, card_id: int | None, points: int, ref: str) -> None:
    fn = _seam("members", "hold_points")
    if fn is None or card_id is None:
        raise Unprocessable("您还没有会员卡，不能使用积分抵扣")
    await fn(session, card_id, points, ref)


async def capture_hold(session: AsyncSession, ref: str) -> None:
    fn = _seam("members", "capture_hold")
    if fn is not None:
        await fn(session, ref)


async def release_hold(session: AsyncSession, ref: str) -> None:
    fn = _seam("members", "release_hold")
    if fn is not None:
        await fn(session, ref)


async def credit_stored_value(
    session: AsyncSession, card_id: int, fen: int, ref: str, *, origin_ref: str | None = None
) -> None:
    """Give stored value back; `origin_ref` (the order's hold ref) lets members return principal and bonus
    in the proportion the order took them."""
    fn = _seam("members", "credit_stored_value")
    if fn is not None:
        await fn(session, card_id, fen, ref, origin_ref=origin_ref)
