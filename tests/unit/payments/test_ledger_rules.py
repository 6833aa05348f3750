"""Postings must balance, each line on one side; commission rounding; the payment posting of an order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from payments import ledger
from payments.order_payables import sale_lines
from payments.payables import Line, Payable
from payments.settlement import commission


def test_unbalanced_or_two_sided_lines_are_refused() -> None:
    ledger.check_balanced([Line("a", debit_fen=5), Line("b", credit_fen=5)])
    with pytest.raises(ledger.UnbalancedPosting):
        ledger.check_balanced([Line("a", debit_fen=5), Line("b", credit_fen=4)])
    with pytest.raises(ledger.UnbalancedPosting):
        ledger.check_balanced([Line("a", debit_fen=5, credit_fen=5)])
    with pytest.raises(ledger.UnbalancedPosting):
        ledger.check_balanced([])


def _order(**extra: object) -> Payable:
    base: dict[str, object] = {
        "order_kind": "delivery",
        "items_fen": 10_000,
        "discount_fen": 1_000,
        "fees_fen": 800,
        "coupon_id": None,
    }
    base.update(extra)
    total = int(base["items_fen"]) - int(base["discount_fen"]) + int(base["fees_fen"])  # type: ignore[call-overload]
    return Payable(
        kind="order",
        id=1,
        number="N1",
        state="unpaid",
        cash_due_fen=total - 2000,
        total_fen=total,
        stored_value_fen=2000,
        deadline=datetime.now(UTC),
        customer_id=1,
        openid=None,
        store_id=7,
        description="",
        extra=base,
    )


def test_sale_lines_balance_cash_stored_value_and_coupon() -> None:
    for extra in ({}, {"coupon_id": 3}, {"order_kind": "urgent"}, {"order_kind": "urgent", "coupon_id": 3}):
        p = _order(**extra)
        lines = [Line(ledger.WECHAT_CLEARING, debit_fen=p.cash_due_fen), *sale_lines(p, p.cash_due_fen)]
        ledger.check_balanced([x for x in lines if x.debit_fen or x.credit_fen])
    coupon = {x.account: x for x in sale_lines(_order(coupon_id=3), 7800)}
    assert coupon["coupon_expense"].debit_fen == 1000 and coupon["store_revenue:7"].credit_fen == 10_000
    urgent = {x.account: x for x in sale_lines(_order(order_kind="urgent"), 7800)}
    assert urgent["hq_clearing"].credit_fen == 9_800 and "store_revenue:7" not in urgent


def test_commission_rounds_half_up_and_never_goes_negative() -> None:
    assert commission(10_000, 500) == 500
    assert commission(10_010, 500) == 501  # 500.5 → 501
    assert commission(10_009, 500) == 500
    assert commission(-100, 500) == 0
