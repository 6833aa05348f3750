"""What a coupon is worth on an order, and in words why not: pure functions, no database.

Stacking rule: one coupon per order. The coupon and the member discount are both computed on the item
subtotal at list price (a scoped coupon on the subtotal of the lines in its scope) and simply add up;
orders.pricing then caps the sum so the order is never negative (and costs at least 1 fen). A free-delivery
coupon takes the delivery fee off (the urgent surcharge stays).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.money import format_yuan

KIND_LABELS = {
    "threshold": "满减券",
    "percent": "折扣券",
    "cash": "无门槛券",
    "newcomer": "新人券",
    "free_delivery": "免配送费券",
}


@dataclass(frozen=True, slots=True)
class Terms:
    kind: str
    threshold_fen: int = 0
    off_fen: int = 0
    percent_off: int | None = None
    cap_fen: int | None = None
    scope: str = "all"
    scope_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Line:
    sku_id: int
    qty: int
    unit_price_fen: int
    product_id: int | None = None
    category_ids: tuple[int, ...] = ()  # the product's category and its parents

    @property
    def worth_fen(self) -> int:
        return self.unit_price_fen * self.qty


@dataclass(frozen=True, slots=True)
class Verdict:
    applicable: bool
    discount_fen: int = 0
    reason: str | None = None
    free_delivery: bool = False


def _yuan(fen: int) -> str:
    """Compact yuan for a coupon's face: 100, 12.5, 0.99."""
    return str(fen // 100) if fen % 100 == 0 else f"{fen // 100}.{fen % 100:02d}".rstrip("0")


def describe(t: Terms) -> str:
    """The coupon's face in a few Chinese words: 满100减20, 8.8折（最多减10元）, 无门槛减5元, 满20免配送费."""
    need = f"满{_yuan(t.threshold_fen)}" if t.threshold_fen else ""
    if t.kind == "percent":
        pct = 100 - (t.percent_off or 0)
        fold = f"{pct // 10}.{pct % 10}".rstrip("0").rstrip(".") + "折"
        cap = f"（最多减{_yuan(t.cap_fen)}元）" if t.cap_fen else ""
        return f"{need}{fold}{cap}"
    if t.kind == "free_delivery":
        return f"{need}免配送费"
    off = f"{need}减{_yuan(t.off_fen)}" if need else f"无门槛减{_yuan(t.off_fen)}元"
    return f"新人专享 {off}" if t.kind == "newcomer" else off


def in_scope(t: Terms, lines: Sequence[Line]) -> list[Line]:
    if t.scope == "products":
        return [x for x in lines if x.product_id in t.scope_ids]
    if t.scope == "categories":
        return [x for x in lines if any(c in t.scope_ids for c in x.category_ids)]
    return list(lines)


def evaluate(
    t: Terms,
    lines: Sequence[Line],
    store_id: int,
    *,
    delivery_fee_fen: int = 0,
    first_order: bool = True,
    valid_from: datetime | None = None,
    now: datetime | None = None,
) -> Verdict:
    """The coupon's discount on these lines at this store, or why it does not apply (in Chinese)."""
    if valid_from is not None and now is not None and now < valid_from:
        return Verdict(False, reason=f"{valid_from.astimezone().strftime('%m月%d日 %H:%M')}起可用")
    if t.scope == "stores" and store_id not in t.scope_ids:
        return Verdict(False, reason="该券仅限指定门店使用")
    if t.kind == "newcomer" and not first_order:
        return Verdict(False, reason="新人券仅限首单使用")
    eligible = in_scope(t, lines)
    if not eligible:
        return Verdict(False, reason="订单中没有该券适用的商品")
    worth = sum(x.worth_fen for x in eligible)
    if worth < t.threshold_fen:
        what = "适用商品" if t.scope in ("products", "categories") else "商品"
        return Verdict(
            False, reason=f"{what}满{format_yuan(t.threshold_fen)}可用，还差{format_yuan(t.threshold_fen - worth)}"
        )
    if t.kind == "free_delivery":
        if delivery_fee_fen <= 0:
            return Verdict(False, reason="该订单没有配送费（到店自提）")
        return Verdict(True, delivery_fee_fen, free_delivery=True)
    if t.kind == "percent":
        off = worth * (t.percent_off or 0) // 100
        if t.cap_fen is not None:
            off = min(off, t.cap_fen)
    else:
        off = t.off_fen
    off = min(off, worth)
    if off <= 0:
        return Verdict(False, reason="该订单金额太小，用券无优惠")
    return Verdict(True, off)
