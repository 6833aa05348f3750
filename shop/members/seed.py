"""Demo member data: three levels, three top-up plans, and a card for every customer already signed in (idempotent).

Customers sign in through WeChat OAuth, so most demo customers get their card on first visit to /member.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from shop.members.cards import new_card_no

LEVELS = (
    # code, name, growth from (fen), % off, points per yuan, benefits
    ("normal", "普通会员", 0, 0, 1, ["消费 1 元积 1 分", "积分抵现"]),
    ("silver", "银卡会员", 50_000, 2, 2, ["会员价 98 折", "消费 1 元积 2 分", "生日礼"]),
    ("gold", "金卡会员", 200_000, 5, 3, ["会员价 95 折", "消费 1 元积 3 分", "急送优先", "专属客服"]),
)
PLANS = (("充 100 送 5", 10_000, 500), ("充 200 送 20", 20_000, 2_000), ("充 500 送 80", 50_000, 8_000))


async def seed_members(session: AsyncSession) -> int:
    """Levels and plans (kept when present) and cards for customers without one; returns new cards."""
    now = clock.now()
    for code, name, growth, pct, rate, benefits in LEVELS:
        await session.execute(
            text(
                "INSERT INTO member_levels (code, name, min_growth_fen, discount_pct, points_per_yuan, benefits, "
                "created_at, updated_at) VALUES (:code, :name, :growth, :pct, :rate, :benefits, :now, :now) "
                "ON CONFLICT DO NOTHING"
            ),
            {"code": code, "name": name, "growth": growth, "pct": pct, "rate": rate, "benefits": benefits, "now": now},
        )
    for name, pay, bonus in PLANS:
        await session.execute(
            text(
                "INSERT INTO member_topup_plans (name, pay_fen, bonus_fen, active, created_at, updated_at) "
                "VALUES (:name, :pay, :bonus, true, :now, :now) ON CONFLICT DO NOTHING"
            ),
            {"name": name, "pay": pay, "bonus": bonus, "now": now},
        )
    missing = list(
        (
            await session.execute(
                text(
                    "SELECT id FROM customers c WHERE NOT EXISTS (SELECT 1 FROM member_cards m WHERE m.customer_id = c.id)"
                )
            )
        ).scalars()
    )
    for customer_id in missing:
        await session.execute(
            text(
                "INSERT INTO member_cards (card_no, customer_id, level_id, growth_fen, points, principal_fen, bonus_fen, "
                "active, created_at, updated_at) SELECT :no, :c, id, 0, 0, 0, 0, true, :now, :now FROM member_levels "
                "ORDER BY min_growth_fen LIMIT 1 ON CONFLICT DO NOTHING"
            ),
            {"no": new_card_no(), "c": customer_id, "now": now},
        )
    return len(missing)
