"""Credit a payment WeChat reports as paid (notify, query or deadline check): once per transaction, in one transaction.

The caller holds the intent's row lock. The payable is marked paid through its own service (orders'
state machine), the ledger gets its posting, and money that no payable can take any more (the order
was cancelled, or another payment already paid it) is posted as unallocated and refunded in full.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, metrics
from core.errors import Unprocessable
from payments import ledger
from payments.models import PaymentIntent
from payments.payables import Line, payable_source
from payments.request_refund import create_refund
from payments.status import move_intent
from wechat.pay import Transaction

log = structlog.get_logger(__name__)

CreditOutcome = Literal["credited", "repeat", "late", "duplicate"]


class PaymentMismatch(Unprocessable):
    """What WeChat reports does not match the intent (merchant, app, amount, transaction): never credited."""


@dataclass(frozen=True)
class Credit:
    outcome: CreditOutcome
    intent_id: int
    refund_id: int | None = None


def check_transaction(intent: PaymentIntent, txn: Transaction) -> None:
    """The checks of the issue: out_trade_no, mchid, appid, amount, a transaction id, a paid state."""
    if txn.out_trade_no != intent.out_trade_no:
        raise PaymentMismatch(f"out_trade_no {txn.out_trade_no!r} is not {intent.out_trade_no!r}")
    if txn.mchid != intent.mchid:
        raise PaymentMismatch(f"mchid {txn.mchid!r} is not our merchant for {intent.out_trade_no}")
    if txn.appid != intent.appid:
        raise PaymentMismatch(f"appid {txn.appid!r} is not the app of {intent.out_trade_no}")
    if not txn.paid:
        raise PaymentMismatch(f"trade_state {txn.trade_state!r} is not a payment")
    if txn.total_fen != intent.amount_fen or (txn.currency or "CNY") != "CNY":
        raise PaymentMismatch(
            f"amount {txn.total_fen} {txn.currency} differs from the {intent.amount_fen} fen asked for "
            f"{intent.out_trade_no}"
        )
    if not txn.transaction_id:
        raise PaymentMismatch("the payment has no transaction_id")


async def credit_payment(
    session: AsyncSession, intent: PaymentIntent, txn: Transaction, *, via: str, actor: str = "wechatpay"
) -> Credit:
    """Credit `txn` to the locked `intent`; a repeat of the same transaction is a no-op ("repeat")."""
    check_transaction(intent, txn)
    if intent.status == "paid":
        if intent.transaction_id == txn.transaction_id:
            return Credit("repeat", intent.id)
        raise PaymentMismatch(
            f"{intent.out_trade_no} was paid by transaction {intent.transaction_id}, not {txn.transaction_id}"
        )
    other = await session.scalar(
        select(PaymentIntent.out_trade_no).where(
            PaymentIntent.transaction_id == txn.transaction_id, PaymentIntent.id != intent.id
        )
    )
    if other is not None:
        raise PaymentMismatch(
            f"transaction {txn.transaction_id} already paid {other}; it cannot pay {intent.out_trade_no}"
        )

    paid_at = txn.success_time or clock.now()
    source = payable_source(intent.payable_kind)
    payable = await source.load(session, intent.payable_id)
    result = await source.mark_paid(session, intent.payable_id, intent.out_trade_no, paid_at)
    outcome: CreditOutcome = (
        "credited" if result in ("paid", "repeat") else ("late" if result == "cancelled" else "duplicate")
    )
    await move_intent(
        session,
        intent,
        "paid",
        actor=actor,
        reason=f"{via}: {txn.trade_state} ({outcome})",
        transaction_id=txn.transaction_id,
        paid_fen=txn.total_fen,
        paid_at=paid_at,
        paid_via=via,
        credit_outcome=outcome,
    )
    assert txn.total_fen is not None
    cash = txn.total_fen
    refund_id = None
    if outcome == "credited":
        lines = [Line(ledger.WECHAT_CLEARING, debit_fen=cash), *await source.payment_lines(session, payable, cash)]
        await ledger.post(
            session,
            ref=f"payment:{intent.id}",
            kind="payment",
            lines=lines,
            occurred_at=paid_at,
            order_id=intent.payable_id if intent.payable_kind == "order" else None,
            intent_id=intent.id,
            memo=f"{payable.number} {intent.out_trade_no}",
        )
    else:
        # The money arrived but nothing can take it: hold it as unallocated and give it all back.
        await ledger.post(
            session,
            ref=f"payment:{intent.id}",
            kind="unallocated_payment",
            lines=[Line(ledger.WECHAT_CLEARING, debit_fen=cash), Line(ledger.UNALLOCATED, credit_fen=cash)],
            occurred_at=paid_at,
            order_id=intent.payable_id if intent.payable_kind == "order" else None,
            intent_id=intent.id,
            memo=f"{outcome} payment {intent.out_trade_no} for {payable.number}",
        )
        kind = "late_payment" if outcome == "late" else "duplicate_payment"
        refund = await create_refund(
            session,
            intent=intent,
            payable=payable,
            wechat_fen=cash,
            stored_value_fen=0,
            reason="订单已取消，款项原路退回" if outcome == "late" else "重复支付，款项原路退回",
            ref=f"{kind}:{intent.out_trade_no}",
            kind=kind,
            actor="system",
        )
        refund_id = refund.id
    metrics.PAYMENTS.labels(event=f"credit_{outcome}").inc()
    log.info(
        "payment_credited",
        intent_id=intent.id,
        out_trade_no=intent.out_trade_no,
        transaction_id=txn.transaction_id,
        payable=f"{intent.payable_kind}:{intent.payable_id}",
        fen=cash,
        via=via,
        outcome=outcome,
    )
    return Credit(outcome, intent.id, refund_id)
