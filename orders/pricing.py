"""Order pricing in integer fen: line totals, discount allocation, delivery fee bands, urgent surcharge.

The rules, in order:
1. A line is worth unit price × quantity; the goods are worth the sum of the lines.
2. Discounts (coupon, member) are added up and capped twice: never more than the goods, and never so
   much that the order is worth nothing — the customer pays at least 1 fen (WeChat Pay cannot charge
   0), unless stored value or points pay the rest.
3. The capped discount is allocated to lines pro rata to their worth, rounding each share down; the
   fen left over go to the largest line (ties: the earliest line), and when that line cannot take them
   without going below zero, the rest to the next largest, and so on. So the shares sum to the discount
   exactly and no line is ever negative (refunds of single lines use these shares).
4. Fees (delivery by distance band, urgent surcharge) are never discounted.
5. total = goods − discount + fees; stored value pays first, the rest is cash due by WeChat Pay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orders.errors import NothingToPay

# Delivery fee by distance from the store (metres, inclusive upper bound) — only within the store's radius.
DELIVERY_FEE_BANDS: tuple[tuple[int, int], ...] = ((1_000, 300), (3_000, 500), (5_000, 800))
DELIVERY_FEE_BEYOND_FEN = 1_200
URGENT_SURCHARGE_FEN = 800


def delivery_fee_fen(distance_m: float) -> int:
    for upto, fee in DELIVERY_FEE_BANDS:
        if distance_m <= upto:
            return fee
    return DELIVERY_FEE_BEYOND_FEN


@dataclass(frozen=True, slots=True)
class PricedLine:
    unit_price_fen: int
    qty: int
    line_fen: int
    discount_fen: int

    @property
    def net_fen(self) -> int:
        return self.line_fen - self.discount_fen


@dataclass(frozen=True, slots=True)
class Totals:
    lines: tuple[PricedLine, ...]
    items_fen: int
    discount_fen: int
    delivery_fee_fen: int
    urgent_fee_fen: int
    total_fen: int
    stored_value_fen: int
    cash_due_fen: int

    @property
    def fees_fen(self) -> int:
        return self.delivery_fee_fen + self.urgent_fee_fen


def allocate(amount: int, weights: Sequence[int]) -> list[int]:
    """Split `amount` fen over lines worth `weights` fen (rule 3). Requires 0 ≤ amount ≤ sum(weights)."""
    total = sum(weights)
    if amount < 0 or amount > total or any(w < 0 for w in weights):
        raise ValueError(f"cannot allocate {amount} over {list(weights)}")
    if amount == 0 or total == 0:
        return [0] * len(weights)
    shares = [amount * w // total for w in weights]
    left = amount - sum(shares)
    # Largest line first; ties keep line order. Each line takes what it can without exceeding its worth.
    for i in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        if left == 0:
            break
        take = min(left, weights[i] - shares[i])
        shares[i] += take
        left -= take
    return shares


def price(
    lines: Sequence[tuple[int, int]],
    *,
    discounts_fen: Sequence[int] = (),
    delivery_fee_fen: int = 0,
    urgent_fee_fen: int = 0,
    stored_value_fen: int = 0,
) -> Totals:
    """Totals of (unit_price_fen, qty) lines under the rules above.

    `stored_value_fen` is what the customer wants to pay from stored value; it is capped at the total.
    """
    for unit, qty in lines:
        if unit < 0 or qty <= 0:
            raise ValueError(f"bad line: unit {unit}, qty {qty}")
    if any(d < 0 for d in discounts_fen) or delivery_fee_fen < 0 or urgent_fee_fen < 0 or stored_value_fen < 0:
        raise ValueError("discounts, fees and stored value are never negative")
    worth = [unit * qty for unit, qty in lines]
    items = sum(worth)
    fees = delivery_fee_fen + urgent_fee_fen
    if items + fees == 0:
        raise NothingToPay("this order is worth 0 fen; add something to pay for")
    # At least one fen stays to pay (rule 2). Stored value can pay that fen, cash need not.
    discount = min(sum(discounts_fen), items, items + fees - 1)
    shares = allocate(discount, worth)
    total = items - discount + fees
    from_stored_value = min(stored_value_fen, total)
    return Totals(
        lines=tuple(PricedLine(unit, qty, w, s) for (unit, qty), w, s in zip(lines, worth, shares, strict=True)),
        items_fen=items,
        discount_fen=discount,
        delivery_fee_fen=delivery_fee_fen,
        urgent_fee_fen=urgent_fee_fen,
        total_fen=total,
        stored_value_fen=from_stored_value,
        cash_due_fen=total - from_stored_value,
    )


def refund_share_fen(line: PricedLine, qty: int, already_refunded: int = 0) -> int:
    """What `qty` more units of a line paid, after its discount share.

    Cumulative rounding down (net × units / qty), so refunding a line unit by unit adds up to exactly
    what refunding it at once would: the line's net.
    """
    if qty <= 0 or already_refunded < 0 or already_refunded + qty > line.qty:
        raise ValueError(f"cannot refund {qty} more of {line.qty} (already {already_refunded})")
    before = line.net_fen * already_refunded // line.qty
    return line.net_fen * (already_refunded + qty) // line.qty - before
