"""Points and growth: earned on paid orders (rate per level), reversed in proportion on refunds, spent as a
deduction on orders (held at placement, captured when paid, released on cancel); levels follow growth.

Rules:
- Earn: `points_per_yuan` of the card's level for every yuan the order was paid (cash + stored value),
  rounded down, once per order. Growth grows by the same paid fen.
- Refund: a refund of r fen out of p paid takes back ⌊points × refunded_so_far / p⌋ − already taken
  (cumulative, so partial refunds end exactly at the award) and the same fen of growth. Points already
  spent cannot be taken twice: the card never goes below zero; the shortfall is written in the statement.
- Levels: upgrade at once when growth reaches a level's threshold; downgrade when refunds take growth
  below the current level's threshold.
- Spend: 1 point = 1 fen off; at most `MAX_POINTS_SHARE_PCT` % of the order's goods after discounts.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput
from shop.members.cards import CardRow, apply_change, card_of_customer, entry_exists, level_for_growth, lock_card
from shop.members.errors import HoldConflict, InsufficientPoints

log = structlog.get_logger(__name__)

FEN_PER_POINT = 1
MAX_POINTS_SHARE_PCT = 20


def points_cap(goods_fen: int) -> int:
    """The most points an order with these goods (after discounts) may spend."""
    return max(0, goods_fen) * MAX_POINTS_SHARE_PCT // 100 // FEN_PER_POINT


async def _set_growth(session: AsyncSession, card: CardRow, delta_fen: int) -> None:
    growth = max(0, card.growth_fen + delta_fen)
    level = await level_for_growth(session, growth)
    await session.execute(
        text("UPDATE member_cards SET growth_fen = :g, level_id = :l, updated_at = :now WHERE id = :id"),
        {"g": growth, "l": level.id, "id": card.id, "now": clock.now()},
    )
    if level.id != card.level_id:
        log.info("member_level_changed", card_id=card.id, level=level.code, growth_fen=growth)


async def award_points(session: AsyncSession, customer_id: int, order_id: int, paid_fen: int) -> int:
    """Points (and growth) for a paid order, once per order; 0 when the customer has no card."""
    card_model = await card_of_customer(session, customer_id)
    if card_model is None or paid_fen <= 0:
        return 0
    card = await lock_card(session, card_model.id)
    rate = int(
        await session.scalar(text("SELECT points_per_yuan FROM member_levels WHERE id = :l"), {"l": card.level_id}) or 0
    )
    points = paid_fen * rate // 100
    inserted = await session.scalar(
        text(
            "INSERT INTO member_points_awards (order_id, card_id, base_fen, points, refunded_fen, reversed_points, at) "
            "VALUES (:o, :c, :b, :p, 0, 0, :now) ON CONFLICT (order_id) DO NOTHING RETURNING order_id"
        ),
        {"o": order_id, "c": card.id, "b": paid_fen, "p": points, "now": clock.now()},
    )
    if inserted is None:
        return 0
    after = card
    if points:
        after = await apply_change(
            session, card, ref=f"pts:earn:{order_id}", kind="points_earn", points=points, memo=f"订单 {order_id} 积分"
        )
    await _set_growth(session, after, paid_fen)
    log.info("points_awarded", card_id=card.id, order_id=order_id, points=points, paid_fen=paid_fen)
    return points


async def reverse_points(session: AsyncSession, order_id: int, refund_fen: int, ref: str) -> int:
    """Take back points and growth in proportion to a refund; idempotent by ref. Returns points taken."""
    award = (
        await session.execute(
            text(
                "SELECT card_id, base_fen, points, refunded_fen, reversed_points FROM member_points_awards "
                "WHERE order_id = :o"
            ),
            {"o": order_id},
        )
    ).first()
    if award is None or refund_fen <= 0:
        return 0
    card = await lock_card(session, int(award.card_id))
    entry_ref = f"pts:reverse:{order_id}:{ref}"
    if await entry_exists(session, entry_ref):
        return 0
    award = (
        await session.execute(
            text(
                "SELECT card_id, base_fen, points, refunded_fen, reversed_points FROM member_points_awards "
                "WHERE order_id = :o FOR UPDATE"
            ),
            {"o": order_id},
        )
    ).one()
    refunded = min(int(award.base_fen), int(award.refunded_fen) + refund_fen)
    growth_back = refunded - int(award.refunded_fen)
    target = int(award.points) * refunded // int(award.base_fen)
    take = target - int(award.reversed_points)
    await session.execute(
        text("UPDATE member_points_awards SET refunded_fen = :r, reversed_points = :t WHERE order_id = :o"),
        {"r": refunded, "t": target, "o": order_id},
    )
    taken = min(take, card.points)
    memo = f"订单 {order_id} 退款扣回积分"
    if taken < take:
        memo += f"（应扣 {take}，积分已用，扣 {taken}）"
    after = await apply_change(session, card, ref=entry_ref, kind="points_reverse", points=-taken, memo=memo)
    await _set_growth(session, after, -growth_back)
    log.info("points_reversed", card_id=card.id, order_id=order_id, points=taken, refund_fen=refund_fen)
    return taken


# --- points spent on an order ------------------------------------------------------------------------


async def hold_points(session: AsyncSession, card_id: int, points: int, ref: str) -> None:
    """Set points aside for an order (ref); idempotent: the same ref and amount is a no-op."""
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise InvalidInput("使用的积分必须是正整数")
    card = await lock_card(session, card_id)
    row = (
        await session.execute(
            text("SELECT card_id, points FROM member_holds WHERE kind = 'points' AND ref = :r"), {"r": ref}
        )
    ).first()
    if row is not None:
        if (int(row[0]), int(row[1])) != (card_id, points):
            raise HoldConflict(f"{ref} 已经占用了 {row[1]} 积分")
        return
    if card.points < points:
        raise InsufficientPoints(f"积分不足：可用 {card.points} 分，本单要用 {points} 分")
    await apply_change(
        session, card, ref=f"pts:hold:{ref}", kind="points_spend", points=-points, memo=f"积分抵扣 {ref}"
    )
    now = clock.now()
    await session.execute(
        text(
            "INSERT INTO member_holds (kind, ref, card_id, fen, principal_fen, bonus_fen, points, state, "
            "returned_principal_fen, returned_bonus_fen, created_at, updated_at) "
            "VALUES ('points', :r, :c, :fen, 0, 0, :p, 'held', 0, 0, :now, :now)"
        ),
        {"r": ref, "c": card_id, "fen": points * FEN_PER_POINT, "p": points, "now": now},
    )


async def capture_points(session: AsyncSession, ref: str) -> None:
    await session.execute(
        text(
            "UPDATE member_holds SET state = 'captured', updated_at = :now "
            "WHERE kind = 'points' AND ref = :r AND state = 'held'"
        ),
        {"r": ref, "now": clock.now()},
    )


async def release_points(session: AsyncSession, ref: str) -> None:
    """Points held (or spent) on a cancelled order go back to the card; idempotent."""
    row = (
        await session.execute(
            text("SELECT card_id FROM member_holds WHERE kind = 'points' AND ref = :r AND state <> 'released'"),
            {"r": ref},
        )
    ).first()
    if row is None:
        return
    card = await lock_card(session, int(row[0]))
    moved = (
        await session.execute(
            text(
                "UPDATE member_holds SET state = 'released', updated_at = :now "
                "WHERE kind = 'points' AND ref = :r AND state <> 'released' RETURNING points"
            ),
            {"r": ref, "now": clock.now()},
        )
    ).first()
    if moved is None:
        return
    await apply_change(
        session,
        card,
        ref=f"pts:release:{ref}",
        kind="points_release",
        points=int(moved[0]),
        memo=f"订单取消退回积分 {ref}",
    )


@dataclass(frozen=True, slots=True)
class PointsUse:
    points: int
    fen: int
    available: int
    max_points: int
    balance_fen: int


async def points_use(session: AsyncSession, card_id: int, points: int, goods_fen: int) -> PointsUse:
    """Check a points deduction for a quote: within the card's points and the per-order cap (no lock, no write)."""
    row = (
        await session.execute(
            text("SELECT points, principal_fen + bonus_fen FROM member_cards WHERE id = :id"), {"id": card_id}
        )
    ).one()
    available, balance = int(row[0]), int(row[1])
    cap = points_cap(goods_fen)
    if points > available:
        raise InsufficientPoints(f"积分不足：您有 {available} 积分，本单要用 {points} 积分")
    if points > cap:
        raise InsufficientPoints(
            f"本单最多可用 {cap} 积分抵扣（不超过商品金额的 {MAX_POINTS_SHARE_PCT}%），请减少使用的积分"
        )
    return PointsUse(points, points * FEN_PER_POINT, available, min(cap, available), balance)
