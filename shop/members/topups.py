"""Stored-value top-ups: plans (pay 200 get 220), a top-up created unpaid, paid once (principal + bonus onto the
card), or cancelled when its payment deadline passes unpaid. Payments collects it as the `topup` payable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import structlog
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, jobs
from core.errors import NotFound
from core.ids import new_token
from shop.members.cards import open_card
from shop.members.errors import BadTopUp, NotYourCard
from shop.members.models import TopUp, TopUpPlan
from shop.members.stored_value import credit_topup

log = structlog.get_logger(__name__)

PAY_WITHIN = timedelta(minutes=15)
MIN_TOPUP_FEN, MAX_TOPUP_FEN = 1_000, 500_000  # 10 to 5,000 yuan, whole yuan
# Payments' deadline job (named, not imported: payments sits above shop); it queries WeChat, credits a
# paid intent or cancels the top-up through the payable's cancel_unpaid.
DEADLINE_JOB = "payments.settle_deadline"


async def active_plans(session: AsyncSession) -> list[TopUpPlan]:
    return list((await session.scalars(select(TopUpPlan).where(TopUpPlan.active).order_by(TopUpPlan.pay_fen))).all())


def check_custom_amount(pay_fen: object) -> int:
    if isinstance(pay_fen, bool) or not isinstance(pay_fen, int):
        raise BadTopUp("充值金额必须是整数（分）")
    if pay_fen % 100 or not MIN_TOPUP_FEN <= pay_fen <= MAX_TOPUP_FEN:
        raise BadTopUp(
            f"充值金额须为 {MIN_TOPUP_FEN // 100}–{MAX_TOPUP_FEN // 100} 元之间的整数元，收到 {pay_fen / 100:.2f} 元"
        )
    return pay_fen


async def create_topup(
    session: AsyncSession, customer_id: int, *, plan_id: int | None = None, pay_fen: int | None = None
) -> TopUp:
    """A top-up to pay: by an active plan (its bonus) or a custom whole-yuan amount (no bonus)."""
    if (plan_id is None) == (pay_fen is None):
        raise BadTopUp("请选择一个充值方案，或填写充值金额（二选一）")
    bonus = 0
    if plan_id is not None:
        plan = await session.get(TopUpPlan, plan_id)
        if plan is None or not plan.active:
            raise BadTopUp("该充值方案不存在或已下架，请重新选择")
        amount, bonus = plan.pay_fen, plan.bonus_fen
    else:
        amount = check_custom_amount(pay_fen)
    card = await open_card(session, customer_id)
    now = clock.now()
    topup = TopUp(
        number=f"tmp-{new_token(12)}",  # replaced by the id-based number below, in the same transaction
        card_id=card.id,
        customer_id=customer_id,
        plan_id=plan_id,
        pay_fen=amount,
        bonus_fen=bonus,
        status="created",
        deadline_at=now + PAY_WITHIN,
    )
    session.add(topup)
    await session.flush()
    topup.number = f"T{clock.now_shanghai():%y%m%d}{topup.id:08d}"
    await session.flush()
    await jobs.enqueue(
        session,
        DEADLINE_JOB,
        {"kind": "topup", "id": topup.id},
        run_at=topup.deadline_at,
        dedupe_key=f"deadline:topup:{topup.id}",
    )
    log.info("topup_created", topup_id=topup.id, card_id=card.id, pay_fen=amount, bonus_fen=bonus)
    return topup


async def get_topup(session: AsyncSession, topup_id: int) -> TopUp:
    topup = await session.get(TopUp, topup_id)
    if topup is None:
        raise NotFound(f"充值单 {topup_id} 不存在")
    return topup


async def own_topup(session: AsyncSession, customer_id: int, topup_id: int) -> TopUp:
    topup = await get_topup(session, topup_id)
    if topup.customer_id != customer_id:
        raise NotYourCard("这不是您的充值单")
    return topup


@dataclass(frozen=True, slots=True)
class TopUpState:
    id: int
    status: str
    payment_ref: str | None


MarkResult = Literal["paid", "repeat", "cancelled", "paid_otherwise"]


async def mark_topup_paid(session: AsyncSession, topup_id: int, payment_ref: str, paid_at: datetime) -> MarkResult:
    """created → paid (one conditional update), and the card credited once: principal + bonus."""
    row = (
        await session.execute(
            text(
                "UPDATE member_topups SET status = 'paid', payment_ref = :ref, paid_at = :at, updated_at = :now "
                "WHERE id = :id AND status = 'created' RETURNING card_id, pay_fen, bonus_fen"
            ),
            {"id": topup_id, "ref": payment_ref, "at": paid_at, "now": clock.now()},
        )
    ).first()
    if row is None:
        topup = await get_topup(session, topup_id)
        if topup.status == "paid":
            return "repeat" if topup.payment_ref == payment_ref else "paid_otherwise"
        return "cancelled"
    await credit_topup(session, int(row.card_id), int(row.pay_fen), int(row.bonus_fen), f"topup:{topup_id}")
    log.info("topup_paid", topup_id=topup_id, payment_ref=payment_ref)
    return "paid"


async def cancel_unpaid_topup(session: AsyncSession, topup_id: int) -> bool:
    done = await session.scalar(
        text(
            "UPDATE member_topups SET status = 'cancelled', updated_at = :now "
            "WHERE id = :id AND status = 'created' RETURNING id"
        ),
        {"id": topup_id, "now": clock.now()},
    )
    return done is not None
