"""Refund arithmetic: proportional split between WeChat and stored value, never past what is left; out_refund_no."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from payments.request_refund import out_refund_no_for, split_refund


def test_split_follows_how_it_was_paid() -> None:
    assert split_refund(1000, 700, 300, 700, 300) == (700, 300)
    assert split_refund(100, 700, 300, 700, 300) == (70, 30)
    assert split_refund(500, 500, 0, 500, 0) == (500, 0)
    assert split_refund(500, 0, 500, 0, 500) == (0, 500)


def test_split_moves_the_rest_when_one_side_is_used_up() -> None:
    assert split_refund(400, 400, 300, 700, 300) == (280, 120)
    # 500 of WeChat already refunded: what WeChat cannot take comes from stored value.
    assert split_refund(500, 200, 300, 700, 300) == (200, 300)


@given(
    wechat_paid=st.integers(0, 10**7),
    sv_paid=st.integers(0, 10**7),
    wechat_done=st.integers(0, 10**7),
    sv_done=st.integers(0, 10**7),
    data=st.data(),
)
def test_split_never_exceeds_either_side(wechat_paid: int, sv_paid: int, wechat_done: int, sv_done: int, data) -> None:  # type: ignore[no-untyped-def]
    wechat_left = max(0, wechat_paid - wechat_done)
    sv_left = max(0, sv_paid - sv_done)
    if wechat_left + sv_left == 0:
        return
    amount = data.draw(st.integers(1, wechat_left + sv_left))
    wechat, sv = split_refund(amount, wechat_left, sv_left, wechat_paid, sv_paid)
    assert wechat + sv == amount
    assert 0 <= wechat <= wechat_left and 0 <= sv <= sv_left


def test_out_refund_no_is_derived_from_the_ref() -> None:
    a = out_refund_no_for("cancel:42")
    assert a == out_refund_no_for("cancel:42") != out_refund_no_for("cancel:43")
    assert len(a) == 32 and a.isalnum()
