"""The discounts seam's quote: which of the customer's coupons apply to these lines, why the others do not,
what each is worth, and which is best. Nothing is written; placing locks the chosen coupon (redeem_coupon)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, seams
from shop.coupons.errors import CouponNotApplicable, CouponNotFound
from shop.coupons.rules import Line, Terms, Verdict, evaluate

MAX_OPTIONS = 50


@dataclass(frozen=True, slots=True)
class CouponOption:
    coupon_id: int
    title: str
    applicable: bool
    reason: str | None
    discount_fen: int


@dataclass(frozen=True, slots=True)
class DiscountQuote:
    coupon_id: int | None = None
    coupon_fen: int = 0
    labels: tuple[str, ...] = ()
    free_delivery: bool = False
    options: tuple[CouponOption, ...] = ()
    best_coupon_id: int | None = None


NOTHING = DiscountQuote()

_COUPONS = text(
    """
    SELECT c.id, c.state, c.valid_from, c.valid_until, t.title, t.kind, t.threshold_fen, t.off_fen, t.percent_off,
           t.cap_fen, t.scope, t.scope_ids
    FROM customer_coupons c JOIN coupon_templates t ON t.id = c.template_id
    WHERE c.customer_id = :customer_id
      AND (c.id = :coupon_id OR (:all AND c.state IN ('available', 'returned') AND c.valid_until > :now))
    ORDER BY c.id = :coupon_id DESC NULLS LAST, c.valid_until, c.id  -- the chosen one is never cut off
    LIMIT :limit
    """
)
_LINE_FACTS = text(
    """
    SELECT k.id, p.id AS product_id, p.category_id, cat.parent_id
    FROM skus k JOIN products p ON p.id = k.product_id LEFT JOIN categories cat ON cat.id = p.category_id
    WHERE k.id = ANY(CAST(:ids AS bigint[]))
    """
)


def _terms(r: Any) -> Terms:
    return Terms(r.kind, r.threshold_fen, r.off_fen, r.percent_off, r.cap_fen, r.scope, tuple(r.scope_ids or ()))


async def _lines(session: AsyncSession, lines: Sequence[Any], need_facts: bool) -> list[Line]:
    facts: dict[int, tuple[int, tuple[int, ...]]] = {}
    if need_facts:
        rows = (await session.execute(_LINE_FACTS, {"ids": [x.sku_id for x in lines]})).all()
        facts = {r.id: (r.product_id, tuple(c for c in (r.category_id, r.parent_id) if c is not None)) for r in rows}
    out = []
    for x in lines:
        product_id, cats = facts.get(x.sku_id, (None, ()))
        out.append(Line(x.sku_id, x.qty, x.unit_price_fen, product_id, cats))
    return out


async def _first_order(session: AsyncSession, customer_id: int) -> bool:
    check = seams.paid_order_check()
    return True if check is None else not await check(session, customer_id)


async def quote_discounts(
    session: AsyncSession,
    customer_id: int,
    store_id: int,
    lines: Sequence[Any],
    coupon_id: int | None = None,
    *,
    with_options: bool = False,
    best: bool = False,
    delivery_fee_fen: int = 0,
) -> DiscountQuote:
    """The coupon discount on `lines` (objects with sku_id, qty, unit_price_fen) at the store.

    `coupon_id`: the coupon the customer chose; not theirs → CouponNotFound (404), not applicable →
    CouponNotApplicable (422) with the reason. `best`: without a chosen coupon, apply the best applicable
    one. `with_options`: also list every usable coupon with its worth or the reason it does not apply.
    """
    if coupon_id is None and not with_options and not best:
        return NOTHING
    now = clock.now()
    rows = (
        await session.execute(
            _COUPONS,
            {
                "customer_id": customer_id,
                "coupon_id": coupon_id,
                "all": with_options or (best and coupon_id is None),
                "now": now,
                "limit": MAX_OPTIONS,
            },
        )
    ).all()
    if coupon_id is not None and not any(r.id == coupon_id for r in rows):
        raise CouponNotFound(coupon_id)
    need_facts = any(r.scope in ("products", "categories") for r in rows)
    priced = await _lines(session, lines, need_facts)
    first = await _first_order(session, customer_id) if any(r.kind == "newcomer" for r in rows) else True

    verdicts: dict[int, tuple[Any, Verdict]] = {}
    for r in rows:
        if r.state not in ("available", "returned") or r.valid_until <= now:
            why = {"locked": "已被其他订单占用", "used": "已使用", "expired": "已过期"}.get(r.state, "已过期")
            verdicts[r.id] = (r, Verdict(False, reason=f"这张优惠券{why}"))
            continue
        v = evaluate(
            _terms(r),
            priced,
            store_id,
            delivery_fee_fen=delivery_fee_fen,
            first_order=first,
            valid_from=r.valid_from,
            now=now,
        )
        verdicts[r.id] = (r, v)

    options = tuple(
        CouponOption(cid, r.title, v.applicable, v.reason, v.discount_fen)
        for cid, (r, v) in verdicts.items()
        if with_options and (cid != coupon_id or r.state in ("available", "returned"))
    )
    applicable = [(cid, v.discount_fen) for cid, (_, v) in verdicts.items() if v.applicable]
    best_id = max(applicable, key=lambda x: x[1])[0] if applicable else None  # ties: the one ending first

    chosen = coupon_id if coupon_id is not None else (best_id if best else None)
    if chosen is None:
        return DiscountQuote(options=options, best_coupon_id=best_id)
    r, v = verdicts[chosen]
    if not v.applicable:
        raise CouponNotApplicable(
            f"这张优惠券不能用于本订单：{v.reason}", extra={"coupon_id": chosen, "reason": v.reason}
        )
    return DiscountQuote(
        coupon_id=chosen,
        coupon_fen=0 if v.free_delivery else v.discount_fen,
        labels=(f"优惠券：{r.title}",),
        free_delivery=v.free_delivery,
        options=options,
        best_coupon_id=best_id,
    )
