"""Payments' reactions to other domains' events (run in the publisher's transaction; WeChat only through jobs)."""

from __future__ import annotations

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.events import DispatchAccepted, OrderCancelled, OrderPaid, PaymentDeadlineReached, RefundApproved, subscribe
from payments import ledger
from payments.member_rewards import register_member_rewards
from payments.order_payables import OrderPayables, claimed_store, extra_int, refund_account, sale_lines
from payments.payables import Line, payable_source, register_payable_source
from payments.recover_payments import schedule_close
from payments.request_refund import AFTER_SALE_REF, request_refund
from payments.settle_deadline import on_payment_deadline

log = structlog.get_logger(__name__)

STORED_VALUE_REF = "stored-value:"  # orders' payment_ref for orders paid wholly with stored value


async def on_order_cancelled(session: AsyncSession, event: OrderCancelled) -> None:
    """Refund what was paid through WeChat (orders gave the stored value back itself); close open intents."""
    payable = await payable_source("order").load(session, event.order_id)
    if event.refund_due_fen > 0:
        await request_refund(
            session,
            event.order_id,
            event.refund_due_fen,
            f"订单取消：{event.reason}"[:200],
            f"cancel:{event.order_id}",
            wechat_only=True,
        )
    if payable.stored_value_fen and payable.extra.get("payment_ref") is not None:
        # Orders credited the captured stored value back to the card on cancel: mirror it in the ledger.
        account, store = await refund_account(session, payable)
        await ledger.post(
            session,
            ref=f"refund_sv_cancel:{event.order_id}",
            kind="refund_stored_value",
            lines=[
                Line(account, debit_fen=payable.stored_value_fen, store_id=store),
                Line(ledger.STORED_VALUE, credit_fen=payable.stored_value_fen),
            ],
            order_id=event.order_id,
            memo=f"{payable.number} cancelled: stored value back",
        )
    # A prepay may still be open at WeChat: close it so the customer cannot pay a cancelled order.
    await schedule_close(session, "order", event.order_id, "cancelled")


async def on_refund_approved(session: AsyncSession, event: RefundApproved) -> None:
    await request_refund(
        session, event.order_id, event.amount_fen, "售后退款 (after-sales refund)", f"{AFTER_SALE_REF}{event.refund_id}"
    )


async def on_order_paid(session: AsyncSession, event: OrderPaid) -> None:
    """Orders paid wholly with stored value never meet WeChat: post their sale here."""
    if not event.payment_ref.startswith(STORED_VALUE_REF):
        return
    payable = await payable_source("order").load(session, event.order_id)
    await ledger.post(
        session,
        ref=f"sale:{event.order_id}",
        kind="stored_value_sale",
        lines=sale_lines(payable, 0),
        occurred_at=event.paid_at,
        order_id=event.order_id,
        memo=f"{payable.number} paid with stored value",
    )


async def on_dispatch_accepted(session: AsyncSession, event: DispatchAccepted) -> None:
    """An urgent order's money moves from HQ clearing (or the previous claimer) to the claiming store."""
    payable = await payable_source("order").load(session, event.order_id)
    if payable.state == "unpaid" or payable.extra.get("order_kind") != "urgent":
        return
    previous = await claimed_store(session, event.order_id)
    if previous == event.store_id:
        return
    items, discount = extra_int(payable, "items_fen"), extra_int(payable, "discount_fen")
    goods = items if payable.extra.get("coupon_id") is not None else items - discount
    fees = extra_int(payable, "fees_fen")
    if previous is None:
        source_lines = [Line(ledger.HQ_CLEARING, debit_fen=goods + fees)]
    else:
        source_lines = [
            Line(ledger.store_revenue(previous), debit_fen=goods, store_id=previous),
            Line(ledger.delivery_income(previous), debit_fen=fees, store_id=previous),
        ]
    n = 1 + int(
        await session.scalar(
            text("SELECT count(*) FROM ledger_transactions WHERE order_id = :o AND kind = 'dispatch_transfer'"),
            {"o": event.order_id},
        )
        or 0
    )
    await ledger.post(
        session,
        ref=f"dispatch:{event.order_id}:{n}",
        kind="dispatch_transfer",
        lines=[
            *source_lines,
            Line(ledger.store_revenue(event.store_id), credit_fen=goods, store_id=event.store_id),
            Line(ledger.delivery_income(event.store_id), credit_fen=fees, store_id=event.store_id),
        ],
        order_id=event.order_id,
        memo=f"{payable.number} claimed by store {event.store_id}",
    )


def register() -> None:
    register_payable_source(OrderPayables())
    register_member_rewards()
    subscribe(PaymentDeadlineReached, on_payment_deadline)
    subscribe(OrderCancelled, on_order_cancelled)
    subscribe(RefundApproved, on_refund_approved)
    subscribe(OrderPaid, on_order_paid)
    subscribe(DispatchAccepted, on_dispatch_accepted)
