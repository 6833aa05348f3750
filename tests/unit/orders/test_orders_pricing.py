"""Pricing rules: totals add up, nothing goes negative, discounts never exceed the goods, allocation is exact."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orders import pricing
from orders.errors import NothingToPay

lines_st = st.lists(
    st.tuples(st.integers(min_value=0, max_value=500_000), st.integers(min_value=1, max_value=99)),
    min_size=1,
    max_size=30,
)
fen = st.integers(min_value=0, max_value=10_000_000)


@settings(max_examples=2000, deadline=None)
@given(
    lines=lines_st,
    discounts=st.lists(fen, max_size=3),
    delivery=st.integers(0, 5000),
    urgent=st.sampled_from([0, 800]),
    stored=fen,
)
def test_price_properties(
    lines: list[tuple[int, int]], discounts: list[int], delivery: int, urgent: int, stored: int
) -> None:
    items = sum(u * q for u, q in lines)
    if items + delivery + urgent == 0:
        with pytest.raises(NothingToPay):
            pricing.price(lines, discounts_fen=discounts, delivery_fee_fen=delivery, urgent_fee_fen=urgent)
        return
    t = pricing.price(
        lines, discounts_fen=discounts, delivery_fee_fen=delivery, urgent_fee_fen=urgent, stored_value_fen=stored
    )
    # total = Σ lines − discounts + fees
    assert t.items_fen == sum(x.line_fen for x in t.lines) == items
    assert t.total_fen == t.items_fen - t.discount_fen + t.delivery_fee_fen + t.urgent_fee_fen
    # never negative, and at least one fen to pay
    assert t.total_fen >= 1
    assert t.cash_due_fen >= 0 and t.stored_value_fen >= 0
    assert t.cash_due_fen + t.stored_value_fen == t.total_fen
    # discounts never exceed the goods, nor what was asked for
    assert 0 <= t.discount_fen <= t.items_fen
    assert t.discount_fen <= sum(discounts)
    assert t.discount_fen == min(sum(discounts), items, items + delivery + urgent - 1)
    # allocation sums exactly, and no line is discounted below zero
    assert sum(x.discount_fen for x in t.lines) == t.discount_fen
    assert all(0 <= x.discount_fen <= x.line_fen for x in t.lines)
    assert all(x.net_fen >= 0 for x in t.lines)


@settings(max_examples=2000, deadline=None)
@given(weights=st.lists(st.integers(0, 1_000_000), min_size=1, max_size=40), data=st.data())
def test_allocation_is_exact_pro_rata_and_the_remainder_goes_to_the_largest_line(weights: list[int], data) -> None:  # type: ignore[no-untyped-def]
    total = sum(weights)
    amount = data.draw(st.integers(0, total))
    shares = pricing.allocate(amount, weights)
    assert sum(shares) == amount
    assert all(0 <= s <= w for s, w in zip(shares, weights, strict=True))
    if total:
        # each share is its floor pro rata share, plus at most the leftover fen
        floors = [amount * w // total for w in weights]
        extra = [s - f for s, f in zip(shares, floors, strict=True)]
        assert all(e >= 0 for e in extra)
        assert sum(extra) < max(len(weights), 1)
        if sum(extra):
            largest = max(range(len(weights)), key=lambda i: (weights[i], -i))
            # the largest line takes the leftover first, as much as it can
            assert extra[largest] == min(sum(extra), weights[largest] - floors[largest])


def test_remainder_example_goes_to_the_largest_line() -> None:
    # 100 fen over 300/200/100: shares 50/33/16 = 99; the leftover fen goes to the 300 line
    assert pricing.allocate(100, [300, 200, 100]) == [51, 33, 16]
    # ties: the earlier line
    assert pricing.allocate(1, [5, 5]) == [1, 0]
    # when the largest line is full, the next largest takes the rest
    assert pricing.allocate(2, [1, 1, 1]) == [1, 1, 0]


def test_full_discount_leaves_one_fen_unless_fees_pay_it() -> None:
    t = pricing.price([(1000, 1)], discounts_fen=[5000])
    assert (t.discount_fen, t.total_fen) == (999, 1)
    t = pricing.price([(1000, 1)], discounts_fen=[5000], delivery_fee_fen=300)
    assert (t.discount_fen, t.total_fen) == (1000, 300)


def test_stored_value_can_pay_the_whole_order() -> None:
    t = pricing.price([(1000, 2)], stored_value_fen=5000)
    assert (t.total_fen, t.stored_value_fen, t.cash_due_fen) == (2000, 2000, 0)


def test_nothing_to_pay_is_refused() -> None:
    with pytest.raises(NothingToPay):
        pricing.price([(0, 3)])


def test_delivery_fee_bands() -> None:
    assert [pricing.delivery_fee_fen(d) for d in (0, 1000, 1001, 3000, 4999, 5001, 20_000)] == [
        300,
        300,
        500,
        500,
        800,
        1200,
        1200,
    ]


@settings(max_examples=500, deadline=None)
@given(unit=st.integers(0, 100_000), qty=st.integers(1, 99), data=st.data())
def test_refunding_a_line_unit_by_unit_adds_up_to_its_net(unit: int, qty: int, data) -> None:  # type: ignore[no-untyped-def]
    line_fen = unit * qty
    discount = data.draw(st.integers(0, line_fen))
    line = pricing.PricedLine(unit, qty, line_fen, discount)
    parts, done = [], 0
    while done < qty:
        step = data.draw(st.integers(1, qty - done))
        parts.append(pricing.refund_share_fen(line, step, done))
        done += step
    assert sum(parts) == line.net_fen
    assert all(p >= 0 for p in parts)
