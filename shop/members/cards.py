"""Member cards and levels: open a card, find a customer's card, member pricing, levels by growth, the statement writer.

Every change of a card's stored value or points goes through `apply_change`: the card row is locked
(`FOR UPDATE`, so changes to one card are serialized), the change is skipped when its ref is already in
the statement (idempotency), the conditional UPDATE refuses to go below zero (the CHECKs back it), and
the statement entry with the balances after is written in the same transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.driver_sql import DriverStatement, fetchval
from core.errors import InvalidInput
from shop.members.errors import InsufficientPoints, InsufficientStoredValue, NoMemberCard
from shop.members.models import MemberCard, MemberCardEntry, MemberLevel


@dataclass(frozen=True, slots=True)
class CardRow:
    id: int
    customer_id: int
    level_id: int
    growth_fen: int
    points: int
    principal_fen: int
    bonus_fen: int
    active: bool

    @property
    def balance_fen(self) -> int:
        return self.principal_fen + self.bonus_fen


_CARD_COLS = "id, customer_id, level_id, growth_fen, points, principal_fen, bonus_fen, active"


async def lock_card(session: AsyncSession, card_id: int) -> CardRow:
    row = (
        await session.execute(text(f"SELECT {_CARD_COLS} FROM member_cards WHERE id = :id FOR UPDATE"), {"id": card_id})
    ).first()
    if row is None:
        raise NoMemberCard(f"会员卡 {card_id} 不存在")
    return CardRow(*row)


async def card_of_customer(session: AsyncSession, customer_id: int) -> MemberCard | None:
    return await session.scalar(select(MemberCard).where(MemberCard.customer_id == customer_id))


async def require_card(session: AsyncSession, customer_id: int) -> MemberCard:
    card = await card_of_customer(session, customer_id)
    if card is None:
        raise NoMemberCard("您还没有会员卡，请先领取会员卡")
    return card


async def base_level(session: AsyncSession) -> MemberLevel:
    level = await session.scalar(select(MemberLevel).order_by(MemberLevel.min_growth_fen).limit(1))
    if level is None:
        raise InvalidInput("会员等级尚未配置，请联系门店")
    return level


def new_card_no() -> str:
    return "8" + "".join(secrets.choice("0123456789") for _ in range(15))


async def open_card(session: AsyncSession, customer_id: int) -> MemberCard:
    """The customer's card, opened at the lowest level when missing (idempotent; a race ends in one card)."""
    card = await card_of_customer(session, customer_id)
    if card is not None:
        return card
    level = await base_level(session)
    await session.execute(
        text(
            "INSERT INTO member_cards (card_no, customer_id, level_id, growth_fen, points, principal_fen, bonus_fen, "
            "active, created_at, updated_at) VALUES (:no, :c, :l, 0, 0, 0, 0, true, :now, :now) "
            "ON CONFLICT (customer_id) DO NOTHING"
        ),
        {"no": new_card_no(), "c": customer_id, "l": level.id, "now": clock.now()},
    )
    card = await card_of_customer(session, customer_id)
    assert card is not None
    return card


async def level_for_growth(session: AsyncSession, growth_fen: int) -> MemberLevel:
    level = await session.scalar(
        select(MemberLevel)
        .where(MemberLevel.min_growth_fen <= growth_fen)
        .order_by(MemberLevel.min_growth_fen.desc())
        .limit(1)
    )
    return level if level is not None else await base_level(session)


async def get_level(session: AsyncSession, level_id: int) -> MemberLevel:
    level = await session.get(MemberLevel, level_id)
    if level is None:
        raise InvalidInput(f"会员等级 {level_id} 不存在")
    return level


# --- member pricing (the seam orders calls) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberTerms:
    """What a member gets on an order: `discount_pct` off the goods; the card pays stored value and points."""

    card_id: int
    level_name: str
    discount_pct: int
    points: int
    balance_fen: int

    def discount_fen(self, items_fen: int) -> int:
        return items_fen * self.discount_pct // 100

    @property
    def labels(self) -> tuple[str, ...]:
        if not self.discount_pct:
            return ()
        return (f"{self.level_name} {(100 - self.discount_pct) / 10:g} 折",)


# The customer's active card with its level, as one JSON column: member_pricing reads it alone, and the
# checkout read (orders.checkout) takes it in its own statement, one round trip fewer per order.
MEMBER_TERMS_COLUMN = (
    "(SELECT json_build_array(c.id, l.name, l.discount_pct, c.points, c.principal_fen + c.bonus_fen) "
    "FROM member_cards c JOIN member_levels l ON l.id = c.level_id "
    "WHERE c.customer_id = :customer_id AND c.active)"
)
_MEMBER_PRICING = DriverStatement(f"SELECT {MEMBER_TERMS_COLUMN}")


def member_terms_from(value: list[object] | None) -> MemberTerms | None:
    """MemberTerms from MEMBER_TERMS_COLUMN's value (None: no active card)."""
    if value is None:
        return None
    card_id, level_name, discount_pct, points, balance_fen = value
    return MemberTerms(int(card_id), str(level_name), int(discount_pct), int(points), int(balance_fen))  # type: ignore[call-overload]


async def member_pricing(session: AsyncSession, customer_id: int) -> MemberTerms | None:
    """Read on every quote that does not take it with its own read (on the driver: through the ORM it cost
    15 % of placing an order)."""
    return member_terms_from(await fetchval(session, _MEMBER_PRICING, {"customer_id": customer_id}))


# --- the statement writer ---------------------------------------------------------------------------


async def entry_exists(session: AsyncSession, ref: str) -> bool:
    return bool(await session.scalar(text("SELECT 1 FROM member_card_entries WHERE ref = :r"), {"r": ref}))


async def apply_change(
    session: AsyncSession,
    card: CardRow,
    *,
    ref: str,
    kind: str,
    principal_fen: int = 0,
    bonus_fen: int = 0,
    points: int = 0,
    memo: str = "",
) -> CardRow:
    """Change a locked card's balances once per ref; refuses to go below zero. Returns the card after."""
    if principal_fen + card.principal_fen < 0 or bonus_fen + card.bonus_fen < 0:
        raise InsufficientStoredValue(
            f"储值余额不足：可用 {card.balance_fen / 100:.2f} 元，需要 {-(principal_fen + bonus_fen) / 100:.2f} 元"
        )
    if points + card.points < 0:
        raise InsufficientPoints(f"积分不足：可用 {card.points} 分，需要 {-points} 分")
    row = (
        await session.execute(
            text(
                f"""
                UPDATE member_cards SET principal_fen = principal_fen + :p, bonus_fen = bonus_fen + :b,
                       points = points + :pts, updated_at = :now
                WHERE id = :id AND principal_fen + :p >= 0 AND bonus_fen + :b >= 0 AND points + :pts >= 0
                RETURNING {_CARD_COLS}
                """
            ),
            {"id": card.id, "p": principal_fen, "b": bonus_fen, "pts": points, "now": clock.now()},
        )
    ).first()
    if row is None:  # the lock makes this unreachable; the WHERE is the last guard
        raise InsufficientStoredValue("储值余额不足")
    after = CardRow(*row)
    await session.execute(
        insert(MemberCardEntry).values(
            card_id=card.id,
            ref=ref,
            kind=kind,
            principal_delta_fen=principal_fen,
            bonus_delta_fen=bonus_fen,
            points_delta=points,
            principal_after_fen=after.principal_fen,
            bonus_after_fen=after.bonus_fen,
            points_after=after.points,
            memo=memo[:200],
            at=clock.now(),
        )
    )
    return after
