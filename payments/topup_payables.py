"""Stored-value top-ups as payables: payments collects a `topup` like an order; paid → the card is credited once.

Ledger of a paid top-up (one posting, ref payment:<intent>): wechat_clearing Dr the cash paid;
member_bonus_expense Dr the bonus (a marketing cost, granted when the top-up is paid); customer_stored_value
Cr cash + bonus (the liability to the customer). Spending it later debits customer_stored_value in the
order's sale posting. A top-up refund (only a late or duplicate payment, refunded in full) is unallocated
money and never touches the card. Bonus is never paid out in cash.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from payments import ledger
from payments.payables import Line, MarkPaidResult, Payable, PayableState
from shop.members.topups import cancel_unpaid_topup, get_topup, mark_topup_paid
from shop.services import get_customer


def _state(status: str) -> PayableState:
    return {"created": "unpaid", "paid": "paid"}.get(status, "cancelled")  # type: ignore[return-value]


class TopUpPayables:
    kind = "topup"

    async def load(self, session: AsyncSession, payable_id: int) -> Payable:
        try:
            t = await get_topup(session, payable_id)
        except NotFound:
            raise NotFound(f"top-up {payable_id} does not exist") from None
        return Payable(
            kind="topup",
            id=t.id,
            number=t.number,
            state=_state(t.status),
            cash_due_fen=t.pay_fen,
            total_fen=t.pay_fen,
            stored_value_fen=0,
            deadline=t.deadline_at,
            customer_id=t.customer_id,
            openid=None,
            store_id=None,
            description=f"会员储值 {t.pay_fen / 100:.0f} 元"
            + (f"（赠 {t.bonus_fen / 100:.2f} 元）" if t.bonus_fen else ""),
            paid_fen=t.pay_fen if t.status == "paid" else 0,
            extra={"card_id": t.card_id, "bonus_fen": t.bonus_fen, "payment_ref": t.payment_ref},
        )

    async def mark_paid(
        self, session: AsyncSession, payable_id: int, payment_ref: str, paid_at: datetime
    ) -> MarkPaidResult:
        return await mark_topup_paid(session, payable_id, payment_ref, paid_at)

    async def cancel_unpaid(self, session: AsyncSession, payable_id: int, reason: str) -> bool:
        return await cancel_unpaid_topup(session, payable_id)

    async def payment_lines(self, session: AsyncSession, payable: Payable, cash_fen: int) -> list[Line]:
        bonus = payable.extra.get("bonus_fen")
        bonus = bonus if isinstance(bonus, int) else 0
        if cash_fen != payable.total_fen:
            raise ledger.UnbalancedPosting(f"top-up {payable.number}: paid {cash_fen}, asked {payable.total_fen}")
        return [
            Line(ledger.MEMBER_BONUS_EXPENSE, debit_fen=bonus),
            Line(ledger.STORED_VALUE, credit_fen=cash_fen + bonus),
        ]

    async def refund_debits(self, session: AsyncSession, payable: Payable, amount_fen: int) -> list[Line]:
        # Only unallocated payments (late/duplicate) are refunded for a top-up; credited top-ups are not
        # refundable through payments (the stored value may already be spent).
        return [Line(ledger.UNALLOCATED, debit_fen=amount_fen)]

    async def credit_stored_value(self, session: AsyncSession, payable: Payable, fen: int, ref: str) -> None:
        raise RuntimeError(f"top-up {payable.number} has no stored-value part to give back")

    async def payer_openid(self, session: AsyncSession, payable: Payable) -> str | None:
        if payable.customer_id is None:
            return None
        return (await get_customer(session, payable.customer_id)).openid
