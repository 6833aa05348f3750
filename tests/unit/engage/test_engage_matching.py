"""Keyword rules and built-in intents: exact / contains / regex, priority, normalisation, safe patterns."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from engage.matching import RuleView, check_pattern, check_reply, detect_intent, matches, normalize, pick_rule


def rule(id: int, match_type: str, pattern: str, priority: int = 0) -> RuleView:
    return RuleView(id, match_type, pattern, priority, "text", {"content": str(id)})


def test_normalize_folds_width_case_and_space() -> None:
    assert normalize("  ＨＥＬＬＯ　") == "hello"


@pytest.mark.parametrize(
    ("r", "text", "hit"),
    [
        (rule(1, "exact", "会员卡"), "会员卡", True),
        (rule(1, "exact", "会员卡"), "我的会员卡", False),
        (rule(1, "contains", "会员"), "我的会员卡", True),
        (rule(1, "contains", "Coupon"), "any COUPON left?", True),
        (rule(1, "regex", "我(想|要)(买|吃)"), "我想吃汉堡", True),
        (rule(1, "regex", "^退款$"), "我要退款", False),
        (rule(1, "regex", "(unclosed"), "anything", False),
        (rule(1, "contains", "x"), "   ", False),
    ],
)
def test_matching(r: RuleView, text: str, hit: bool) -> None:
    assert matches(r, text) is hit


def test_highest_priority_wins_then_the_oldest() -> None:
    rules = [rule(3, "contains", "药", 1), rule(2, "contains", "感冒", 5), rule(1, "contains", "感冒", 5)]
    assert pick_rule(rules, "感冒药").id == 1
    assert pick_rule(rules, "维生素") is None


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("附近", "nearest_stores"),
        ("离我最近的店在哪", "nearest_stores"),
        ("最近的店", "nearest_stores"),
        ("你们门店几点关门", "nearest_stores"),
        ("Nearest store please", "nearest_stores"),
        ("我的订单到哪了", "latest_order"),
        ("今天天气", None),
    ],
)
def test_built_in_intents(text: str, intent: str | None) -> None:
    assert detect_intent(text) == intent


@pytest.mark.parametrize("pattern", ["(a+)+", "(x*)*y", "(.+)+$", r"(\d+)*", "(ab+){2,}"])
def test_explosive_regexes_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidInput):
        check_pattern("regex", pattern)


def test_patterns_and_replies_are_checked() -> None:
    assert check_pattern("contains", "  感冒 ") == "感冒"
    assert check_pattern("regex", "(感冒|发烧)药?") == "(感冒|发烧)药?"
    for bad in (("exact", ""), ("exact", "x" * 201), ("regex", "[")):
        with pytest.raises(InvalidInput):
            check_pattern(*bad)
    assert check_reply("link", {"title": "会员", "path": "/member", "extra": 1}) == {
        "title": "会员",
        "description": "",
        "path": "/member",
    }
    assert check_reply("coupon", {"coupon_template_id": 3})["title"] == "送您一张优惠券"
    assert check_reply("intent", {"intent": "nearest_stores", "coupon_template_id": 2}) == {
        "intent": "nearest_stores",
        "coupon_template_id": 2,
    }
    for reply_type, reply in (
        ("text", {"content": ""}),
        ("news", {"title": "t", "url": "ftp://x"}),
        ("coupon", {"coupon_template_id": True}),
        ("intent", {"intent": "rm -rf"}),
        ("video", {}),
        ("text", "hello"),
    ):
        with pytest.raises(InvalidInput):
            check_reply(reply_type, reply)
