"""Orders as payables: read through `orders.services.payment_terms`, paid/cancelled through orders' use cases.

Ledger accounts for an order's money: the selling store's revenue and delivery income — or, for an
urgent order no store has claimed yet, the HQ clearing account (moved on DispatchAccepted). A
discount on an order that used a coupon is HQ's cost (coupon_expense), so the store's revenue is the
undiscounted goods value.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from orders.pricing_seams import credit_stored_value
from orders.services import cancel_order, mark_paid, payment_terms
from orders.status import stock_ref
from payments import ledger
from payments.payables import Line, MarkPaidResult, Payable, PayableState
from shop.services import customer_openid

_MARK = {
    "paid": "paid",
    "already_paid": "repeat",
    "order_cancelled": "cancelled",
    "duplicate_payment": "paid_otherwise",
}


def _state(status: str) -> PayableState:
    if status == "created":
        return "unpaid"
    return "cancelled" if status == "cancelled" else "paid"


class OrderPayables:
    kind = "order"

    async def load(self, session: AsyncSession, payable_id: int) -> Payable:
        t = await payment_terms(session, payable_id)
        return Payable(
            kind="order",
            id=t.id,
            number=t.number,
            state=_state(t.status),
            cash_due_fen=t.cash_due_fen,
            total_fen=t.total_fen,
            stored_value_fen=t.stored_value_fen,
            deadline=t.payment_deadline_at,
            customer_id=t.customer_id,
            openid=None,  # looked up only when a JSAPI payment starts (payer_openid)
            store_id=t.store_id,
            description=f"订单 {t.number}",
            paid_fen=t.paid_fen,
            refunded_fen=t.refunded_fen,
            extra={
                "status": t.status,
                "order_kind": t.kind,
                "fulfil_store_id": t.fulfil_store_id,
                "items_fen": t.items_fen,
                "discount_fen": t.discount_fen,
                "fees_fen": t.fees_fen,
                "coupon_id": t.coupon_id,
                "member_card_id": t.member_card_id,
                "payment_ref": t.payment_ref,
            },
        )

    async def mark_paid(
        self, session: AsyncSession, payable_id: int, payment_ref: str, paid_at: datetime
    ) -> MarkPaidResult:
        applied = await mark_paid(session, payable_id, payment_ref, paid_at, actor="payments")
        return _MARK[applied.outcome]  # type: ignore[return-value]

    async def cancel_unpaid(self, session: AsyncSession, payable_id: int, reason: str) -> bool:
        done = await cancel_order(session, payable_id, "payments", reason, unpaid_only=True)
        return done.outcome == "cancelled"

    async def payment_lines(self, session: AsyncSession, payable: Payable, cash_fen: int) -> list[Line]:
        return sale_lines(payable, cash_fen)

    async def refund_debits(self, session: AsyncSession, payable: Payable, amount_fen: int) -> list[Line]:
        account, store = await refund_account(session, payable)
        return [Line(account, debit_fen=amount_fen, store_id=store)]

    async def credit_stored_value(self, session: AsyncSession, payable: Payable, fen: int, ref: str) -> None:
        card_id = payable.extra.get("member_card_id")
        if not isinstance(card_id, int):
            raise RuntimeError(f"order {payable.number} has stored value but no member card")
        await credit_stored_value(session, card_id, fen, ref, origin_ref=stock_ref(payable.id))

    async def payer_openid(self, session: AsyncSession, payable: Payable) -> str | None:
        if payable.customer_id is None:
            return None
        return await customer_openid(session, payable.customer_id)


def extra_int(payable: Payable, key: str) -> int:
    value = payable.extra.get(key)
    return value if isinstance(value, int) else 0


def sale_lines(payable: Payable, cash_fen: int) -> list[Line]:
    """Everything but the wechat_clearing debit of a paid order's posting."""
    urgent = payable.extra.get("order_kind") == "urgent"
    store = payable.store_id
    assert store is not None
    items, discount = extra_int(payable, "items_fen"), extra_int(payable, "discount_fen")
    fees = extra_int(payable, "fees_fen")
    hq_discount = discount if payable.extra.get("coupon_id") is not None else 0
    goods = items - discount + hq_discount
    lines = [
        Line(ledger.STORED_VALUE, debit_fen=payable.stored_value_fen),
        Line(ledger.COUPON_EXPENSE, debit_fen=hq_discount, store_id=store),
    ]
    if urgent:
        lines += [Line(ledger.HQ_CLEARING, credit_fen=goods + fees)]
    else:
        lines += [
            Line(ledger.store_revenue(store), credit_fen=goods, store_id=store),
            Line(ledger.delivery_income(store), credit_fen=fees, store_id=store),
        ]
    if cash_fen + payable.stored_value_fen != payable.total_fen:
        raise ledger.UnbalancedPosting(
            f"order {payable.number}: paid {cash_fen} + stored value {payable.stored_value_fen} is not its total "
            f"{payable.total_fen}"
        )
    return lines


_DISPATCHED = text(
    """
    SELECT e.store_id FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
    WHERE t.order_id = :order_id AND t.kind = 'dispatch_transfer' AND e.credit_fen > 0
    ORDER BY t.id DESC LIMIT 1
    """
)


async def claimed_store(session: AsyncSession, order_id: int) -> int | None:
    """The store an urgent order's money was moved to on DispatchAccepted (the latest claim)."""
    return await session.scalar(_DISPATCHED, {"order_id": order_id})


async def refund_account(session: AsyncSession, payable: Payable) -> tuple[str, int | None]:
    if payable.extra.get("order_kind") == "urgent":
        store = await claimed_store(session, payable.id)
        if store is None:
            return ledger.HQ_CLEARING, None
        return ledger.store_refunds(store), store
    assert payable.store_id is not None
    return ledger.store_refunds(payable.store_id), payable.store_id


# The orders leg of the reconciliation: money credited to an order that is cancelled (or still unpaid)
# without a refund giving it back. A set-based read-only join with orders' table (a 1M-row day cannot
# go through per-order service calls); kept here, the one module of payments that knows about orders.
ORDER_LEG_SQL = """
INSERT INTO recon_found
SELECT 'status_differs', i.out_trade_no, NULL, i.paid_fen, NULL, 'order ' || o.status,
       CASE WHEN o.status = 'created' THEN 'paid here, but the order is still unpaid'
            ELSE 'paid here, the order is cancelled and not refunded' END
FROM payment_intents i
JOIN orders o ON o.id = i.payable_id
WHERE i.payable_kind = 'order' AND i.status = 'paid' AND i.credit_outcome = 'credited'
  AND i.paid_at >= :start AND i.paid_at < :end
  AND (o.status = 'created'
       OR (o.status = 'cancelled'
           AND coalesce((SELECT sum(r.wechat_fen) FROM payment_refunds r
                         WHERE r.intent_id = i.id AND r.status IN ('pending', 'processing', 'success')), 0)
               < i.paid_fen))
"""


async def order_id_of(session: AsyncSession, public_id: str) -> int:
    """The internal id of an order named by its public id (what customers' URLs carry)."""
    from orders.queries import find_order

    return (await find_order(session, public_id)).id
