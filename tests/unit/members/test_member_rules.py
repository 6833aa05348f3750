"""Pure member rules: the principal/bonus split of spends and refunds, the points cap, member discounts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shop.members.cards import CardRow, MemberTerms
from shop.members.errors import HoldConflict, InsufficientStoredValue
from shop.members.points import points_cap
from shop.members.stored_value import Hold, split_back, split_spend


def card(principal: int, bonus: int) -> CardRow:
    return CardRow(1, 1, 1, 0, 0, principal, bonus, True)


def hold(principal: int, bonus: int, rp: int = 0, rb: int = 0) -> Hold:
    return Hold(1, "order:1", 1, principal + bonus, principal, bonus, "captured", rp, rb)


def test_a_spend_takes_bonus_in_proportion_rounded_down() -> None:
    assert split_spend(card(20_000, 2_000), 11_000) == (10_000, 1_000)
    assert split_spend(card(20_000, 2_000), 1_100) == (1_000, 100)
    assert split_spend(card(2, 1), 1) == (1, 0)  # principal never pays less than its share
    assert split_spend(card(0, 500), 500) == (0, 500)


def test_a_spend_over_the_balance_is_refused_in_chinese() -> None:
    with pytest.raises(InsufficientStoredValue, match="储值余额不足"):
        split_spend(card(100, 0), 101)


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.data())
def test_spends_never_take_more_than_either_balance(principal: int, bonus: int, data: st.DataObject) -> None:
    if principal + bonus == 0:
        return
    fen = data.draw(st.integers(1, principal + bonus))
    p, b = split_spend(card(principal, bonus), fen)
    assert p + b == fen and 0 <= p <= principal and 0 <= b <= bonus


@given(st.integers(1, 10**6), st.integers(0, 10**6), st.lists(st.integers(1, 10**5), min_size=1, max_size=8))
def test_partial_refunds_add_up_to_the_holds_split(principal: int, bonus: int, parts: list[int]) -> None:
    h = hold(principal, bonus)
    total = principal + bonus
    given_back = 0
    for part in parts:
        part = min(part, total - given_back)
        if part <= 0:
            break
        p, b = split_back(h, part)
        assert p >= 0 and b >= 0 and p + b == part
        h = hold(principal, bonus, h.returned_principal_fen + p, h.returned_bonus_fen + b)
        given_back += part
    if given_back < total:
        p, b = split_back(h, total - given_back)
        h = hold(principal, bonus, h.returned_principal_fen + p, h.returned_bonus_fen + b)
    assert (h.returned_principal_fen, h.returned_bonus_fen) == (principal, bonus)


def test_giving_back_more_than_was_taken_is_refused() -> None:
    with pytest.raises(HoldConflict):
        split_back(hold(100, 10, 100, 10), 1)


def test_points_cap_and_member_discount() -> None:
    assert points_cap(10_000) == 2_000 and points_cap(-5) == 0
    terms = MemberTerms(card_id=1, level_name="金卡会员", discount_pct=5, points=0, balance_fen=0)
    assert terms.discount_fen(10_001) == 500 and terms.labels == ("金卡会员 9.5 折",)
    assert MemberTerms(1, "普通会员", 0, 0, 0).labels == ()
