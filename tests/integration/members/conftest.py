"""Member test helpers: levels, a card for the world's customer, funded through a real sandbox top-up."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import text

from core.db import unit_of_work
from shop.members.cards import open_card
from shop.members.models import MemberLevel, TopUpPlan
from shop.members.topups import create_topup
from tests.integration.orders.factories import World, world
from tests.integration.payments.conftest import eventually, sandbox_pay, scalar


@dataclass
class Member:
    w: World
    card_id: int


async def seed_levels() -> None:
    async with unit_of_work() as s:
        s.add_all(
            [
                MemberLevel(
                    code="normal", name="普通", min_growth_fen=0, discount_pct=0, points_per_yuan=1, benefits=[]
                ),
                MemberLevel(
                    code="silver",
                    name="银卡",
                    min_growth_fen=50_000,
                    discount_pct=2,
                    points_per_yuan=2,
                    benefits=["生日礼"],
                ),
                MemberLevel(
                    code="gold",
                    name="金卡",
                    min_growth_fen=200_000,
                    discount_pct=5,
                    points_per_yuan=3,
                    benefits=["包邮"],
                ),
            ]
        )
        s.add(TopUpPlan(name="充200送20", pay_fen=20_000, bonus_fen=2_000, active=True))


async def member(w: World) -> Member:
    async with unit_of_work() as s:
        card = await open_card(s, w.customer_id)
    return Member(w, card.id)


@pytest.fixture
async def member_world(clean: None) -> Member:
    await seed_levels()
    return await member(await world(price_fen=1000, stock=1000))


async def balances(card_id: int) -> tuple[int, int, int]:
    async with unit_of_work() as s:
        row = (
            await s.execute(
                text("SELECT principal_fen, bonus_fen, points FROM member_cards WHERE id = :id"), {"id": card_id}
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


async def top_up(http: httpx.AsyncClient, m: Member, *, plan: bool = True, pay_fen: int | None = None) -> int:
    """Create a top-up, pay it in the sandbox, wait for the notify to credit it; returns the top-up id."""
    async with unit_of_work() as s:
        plan_id = await s.scalar(text("SELECT id FROM member_topup_plans ORDER BY pay_fen LIMIT 1")) if plan else None
        t = await create_topup(s, m.w.customer_id, plan_id=plan_id, pay_fen=pay_fen)
        topup_id = t.id
    intent = await start_payment_topup(topup_id)
    await sandbox_pay(http, intent)

    async def paid() -> bool:
        return await scalar("SELECT status FROM member_topups WHERE id = :id", id=topup_id) == "paid"

    await eventually(paid, what="the top-up notify")
    return topup_id


async def start_payment_topup(topup_id: int) -> str:
    from payments.start_payment import start_payment

    async with unit_of_work() as s:
        started = await start_payment(s, topup_id, "JSAPI", payable_kind="topup")
    return started.out_trade_no


async def sv_liability() -> int:
    """customer_stored_value in the ledger (credit-normal): what the company owes card holders."""
    return -int(
        await scalar(
            "SELECT coalesce(sum(debit_fen - credit_fen), 0) FROM ledger_entries WHERE account = 'customer_stored_value'"
        )
        or 0
    )


async def cards_owed() -> int:
    """What the cards hold plus what orders hold on them but have not yet been paid."""
    return int(
        await scalar(
            "SELECT (SELECT coalesce(sum(principal_fen + bonus_fen), 0) FROM member_cards) + "
            "(SELECT coalesce(sum(fen), 0) FROM member_holds WHERE kind = 'stored_value' AND state = 'held')"
        )
        or 0
    )


async def statement_matches(card_id: int) -> bool:
    """The statement's deltas add up to the card's balances."""
    async with unit_of_work() as s:
        row = (
            await s.execute(
                text(
                    "SELECT c.principal_fen, c.bonus_fen, c.points, coalesce(sum(e.principal_delta_fen), 0), "
                    "coalesce(sum(e.bonus_delta_fen), 0), coalesce(sum(e.points_delta), 0) FROM member_cards c "
                    "LEFT JOIN member_card_entries e ON e.card_id = c.id WHERE c.id = :id "
                    "GROUP BY c.principal_fen, c.bonus_fen, c.points"
                ),
                {"id": card_id},
            )
        ).one()
    return (row[0], row[1], row[2]) == (row[3], row[4], row[5])
