"""Coupon worth and reasons (pure): thresholds, percent with cap, scopes, newcomer, free delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from shop.coupons.rules import Line, Terms, describe, evaluate

LINES = [Line(1, 2, 3000, product_id=10, category_ids=(5, 1)), Line(2, 1, 2500, product_id=11, category_ids=(6,))]


def test_threshold_applies_at_or_above_and_says_how_much_is_missing_below() -> None:
    t = Terms("threshold", threshold_fen=8000, off_fen=1000)
    assert evaluate(t, LINES, 1).discount_fen == 1000
    miss = evaluate(Terms("threshold", threshold_fen=10000, off_fen=1000), LINES, 1)
    assert not miss.applicable and miss.reason == "商品满¥100.00可用，还差¥15.00"


def test_percent_rounds_down_and_is_capped() -> None:
    assert evaluate(Terms("percent", percent_off=12), LINES, 1).discount_fen == 8500 * 12 // 100
    assert evaluate(Terms("percent", percent_off=50, cap_fen=2000), LINES, 1).discount_fen == 2000
    assert describe(Terms("percent", percent_off=12, cap_fen=1000)) == "8.8折（最多减10元）"
    assert describe(Terms("threshold", threshold_fen=10000, off_fen=2050)) == "满100减20.5"
    assert describe(Terms("cash", off_fen=500)) == "无门槛减5元"
    assert describe(Terms("percent", percent_off=20)) == "8折"


def test_scopes_count_only_their_lines() -> None:
    by_product = Terms("threshold", threshold_fen=3000, off_fen=500, scope="products", scope_ids=(11,))
    v = evaluate(by_product, LINES, 1)
    assert not v.applicable and v.reason == "适用商品满¥30.00可用，还差¥5.00"
    by_parent_category = Terms("cash", off_fen=99999, scope="categories", scope_ids=(1,))
    assert evaluate(by_parent_category, LINES, 1).discount_fen == 6000  # never more than the lines in scope
    assert evaluate(Terms("cash", off_fen=100, scope="products", scope_ids=(99,)), LINES, 1).reason == (
        "订单中没有该券适用的商品"
    )
    stores = Terms("cash", off_fen=100, scope="stores", scope_ids=(7,))
    assert evaluate(stores, LINES, 7).applicable and evaluate(stores, LINES, 8).reason == "该券仅限指定门店使用"


def test_newcomer_only_on_the_first_order_and_free_delivery_needs_a_fee() -> None:
    assert evaluate(Terms("newcomer", off_fen=500), LINES, 1, first_order=False).reason == "新人券仅限首单使用"
    assert evaluate(Terms("newcomer", off_fen=500), LINES, 1).discount_fen == 500
    fd = Terms("free_delivery", threshold_fen=5000)
    v = evaluate(fd, LINES, 1, delivery_fee_fen=500)
    assert v.applicable and v.free_delivery and v.discount_fen == 500
    assert evaluate(fd, LINES, 1, delivery_fee_fen=0).reason == "该订单没有配送费（到店自提）"


def test_not_yet_valid_says_from_when() -> None:
    now = datetime(2026, 5, 1, 0, 0, tzinfo=UTC)
    v = evaluate(Terms("cash", off_fen=100), LINES, 1, valid_from=now + timedelta(days=1), now=now)
    assert not v.applicable and v.reason is not None and v.reason.endswith("起可用")


@given(
    st.lists(st.tuples(st.integers(1, 20), st.integers(0, 50_000)), min_size=1, max_size=5),
    st.sampled_from(["threshold", "percent", "cash", "newcomer"]),
    st.integers(0, 100_000),
    st.integers(1, 99),
)
def test_a_discount_never_exceeds_the_goods_in_scope(
    lines: list[tuple[int, int]], kind: str, off: int, pct: int
) -> None:
    ls = [Line(i, q, p) for i, (q, p) in enumerate(lines)]
    t = Terms(kind, off_fen=0 if kind == "percent" else off, percent_off=pct if kind == "percent" else None)
    v = evaluate(t, ls, 1)
    worth = sum(x.worth_fen for x in ls)
    assert 0 <= v.discount_fen <= worth
    assert v.applicable == (v.discount_fen > 0)
