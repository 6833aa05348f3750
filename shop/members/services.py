"""Member reads and admin changes: the card as the customer sees it, the statement, levels and top-up plans (audited)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound
from shop.audit import Actor, record_audit
from shop.members.cards import get_level, open_card
from shop.members.models import MemberCard, MemberCardEntry, MemberLevel, TopUpPlan
from shop.members.schemas import CardOut, EntryOut, EntryPage, LevelOut, NextLevelOut
from shop.pagination import check_page


async def card_view(session: AsyncSession, customer_id: int) -> CardOut:
    """The customer's card (opened on first view: following the account makes one a member)."""
    card = await open_card(session, customer_id)
    return await card_out(session, card)


async def card_out(session: AsyncSession, card: MemberCard) -> CardOut:
    level = await get_level(session, card.level_id)
    nxt = await session.scalar(
        select(MemberLevel)
        .where(MemberLevel.min_growth_fen > level.min_growth_fen)
        .order_by(MemberLevel.min_growth_fen)
        .limit(1)
    )
    held = await session.scalar(
        text(
            "SELECT coalesce(sum(fen), 0) FROM member_holds WHERE card_id = :c AND kind = 'stored_value' AND state = 'held'"
        ),
        {"c": card.id},
    )
    return CardOut(
        id=card.id,
        card_no=card.card_no,
        level=LevelOut.of(level),
        next_level=NextLevelOut(nxt.name, nxt.min_growth_fen, max(0, nxt.min_growth_fen - card.growth_fen))
        if nxt is not None
        else None,
        growth_fen=card.growth_fen,
        points=card.points,
        principal_fen=card.principal_fen,
        bonus_fen=card.bonus_fen,
        balance_fen=card.principal_fen + card.bonus_fen,
        held_fen=int(held or 0),
    )


STATEMENT_KINDS = {
    "stored_value": ("spend", "release", "refund", "topup"),
    "points": ("points_earn", "points_reverse", "points_spend", "points_release"),
}


async def statement(session: AsyncSession, card_id: int, *, page: int, page_size: int, kind: str | None) -> EntryPage:
    limit, offset = check_page(page, page_size)
    where: list[Any] = [MemberCardEntry.card_id == card_id]
    if kind is not None:
        where.append(MemberCardEntry.kind.in_(STATEMENT_KINDS[kind]))
    total = int(await session.scalar(select(func.count()).select_from(MemberCardEntry).where(*where)) or 0)
    rows = await session.scalars(
        select(MemberCardEntry).where(*where).order_by(MemberCardEntry.id.desc()).limit(limit).offset(offset)
    )
    return EntryPage([EntryOut.of(e) for e in rows], total, page, page_size)


# --- admin: levels and plans ------------------------------------------------------------------------


async def list_levels(session: AsyncSession) -> list[MemberLevel]:
    return list((await session.scalars(select(MemberLevel).order_by(MemberLevel.min_growth_fen))).all())


def _level_dict(x: MemberLevel) -> dict[str, Any]:
    return {
        "code": x.code,
        "name": x.name,
        "min_growth_fen": x.min_growth_fen,
        "discount_pct": x.discount_pct,
        "points_per_yuan": x.points_per_yuan,
        "benefits": list(x.benefits or []),
    }


async def _flush_unique(session: AsyncSession, what: str) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"{what} already exists (codes, growth thresholds and plan amounts are unique)") from exc


async def create_level(session: AsyncSession, actor: Actor, values: dict[str, Any]) -> MemberLevel:
    level = MemberLevel(**values)
    session.add(level)
    await _flush_unique(session, f"level {values.get('code')!r} or its threshold")
    await record_audit(session, actor, "member_level.create", "member_level", level.id, after=_level_dict(level))
    return level


async def update_level(session: AsyncSession, actor: Actor, level_id: int, changes: dict[str, Any]) -> MemberLevel:
    level = await session.get(MemberLevel, level_id, with_for_update=True)
    if level is None:
        raise NotFound(f"member level {level_id} does not exist")
    before = _level_dict(level)
    for key, value in changes.items():
        setattr(level, key, value)
    await _flush_unique(session, "a level with this threshold")
    await record_audit(
        session, actor, "member_level.update", "member_level", level.id, before=before, after=_level_dict(level)
    )
    return level


async def list_plans(session: AsyncSession) -> list[TopUpPlan]:
    return list((await session.scalars(select(TopUpPlan).order_by(TopUpPlan.pay_fen))).all())


def _plan_dict(p: TopUpPlan) -> dict[str, Any]:
    return {"name": p.name, "pay_fen": p.pay_fen, "bonus_fen": p.bonus_fen, "active": p.active}


def _check_plan(pay_fen: int, bonus_fen: int) -> None:
    from shop.members.errors import BadTopUp

    if pay_fen % 100:
        raise BadTopUp("充值方案金额须为整数元")
    if bonus_fen > pay_fen:
        raise BadTopUp("赠送金额不能超过充值金额")


async def create_plan(session: AsyncSession, actor: Actor, values: dict[str, Any]) -> TopUpPlan:
    _check_plan(values["pay_fen"], values.get("bonus_fen", 0))
    plan = TopUpPlan(**values)
    session.add(plan)
    await _flush_unique(session, f"a plan of {values['pay_fen']} fen")
    await record_audit(session, actor, "topup_plan.create", "topup_plan", plan.id, after=_plan_dict(plan))
    return plan


async def update_plan(session: AsyncSession, actor: Actor, plan_id: int, changes: dict[str, Any]) -> TopUpPlan:
    plan = await session.get(TopUpPlan, plan_id, with_for_update=True)
    if plan is None:
        raise NotFound(f"top-up plan {plan_id} does not exist")
    before = _plan_dict(plan)
    for key, value in changes.items():
        setattr(plan, key, value)
    _check_plan(plan.pay_fen, plan.bonus_fen)
    await session.flush()
    await record_audit(
        session, actor, "topup_plan.update", "topup_plan", plan.id, before=before, after=_plan_dict(plan)
    )
    return plan
