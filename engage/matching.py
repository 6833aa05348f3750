"""Which keyword rule or built-in intent answers a text: exact / contains / regex, highest priority first."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidInput

MAX_PATTERN = 200
MAX_MATCHED_TEXT = 600  # longer texts are matched on their start (WeChat texts are ≤ 2048 bytes anyway)
INTENTS = ("nearest_stores", "latest_order")
# Built-in intents, after the admins' rules: the words customers use (contract: 附近 / nearest).
NEAREST_WORDS = ("附近", "门店", "最近的店", "最近的门店", "哪里有店", "店在哪", "nearest", "near me", "nearby")
ORDER_WORDS = ("订单", "我的订单", "查订单", "order status", "my order")
MENU_KEYS = {"NEAREST_STORES": "nearest_stores", "MY_ORDERS": "latest_order"}
# (a+)+, (a*)*, (.+)+ …: the nested quantifiers that make a backtracking regex explode.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*](?:[^()\\]|\\.)*\)\s*(?:[+*]|\{\d*,?\d*\})")


@dataclass(frozen=True)
class RuleView:
    id: int
    match_type: str
    pattern: str
    priority: int
    reply_type: str
    reply: dict[str, Any]


def normalize(text: str) -> str:
    """Full-width to half-width (NFKC), trimmed, case-folded: '  ＮＥＡＲＥＳＴ ' matches 'nearest'."""
    return unicodedata.normalize("NFKC", text or "").strip().casefold()


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def matches(rule: RuleView, text: str) -> bool:
    said = normalize(text)[:MAX_MATCHED_TEXT]
    if not said:
        return False
    if rule.match_type == "exact":
        return said == normalize(rule.pattern)
    if rule.match_type == "contains":
        wanted = normalize(rule.pattern)
        return bool(wanted) and wanted in said
    if rule.match_type == "regex":
        try:
            return _compiled(rule.pattern).search(said) is not None
        except re.error:
            return False
    return False


def pick_rule(rules: Iterable[RuleView], text: str) -> RuleView | None:
    """The first matching rule by priority (higher first), then age (older first)."""
    for rule in sorted(rules, key=lambda r: (-r.priority, r.id)):
        if matches(rule, text):
            return rule
    return None


def detect_intent(text: str) -> str | None:
    said = normalize(text)[:MAX_MATCHED_TEXT]
    if any(w in said for w in NEAREST_WORDS):
        return "nearest_stores"
    if any(w in said for w in ORDER_WORDS):
        return "latest_order"
    return None


# --- validation of what admins write ------------------------------------------------------------------------


def check_pattern(match_type: str, pattern: str) -> str:
    if match_type not in ("exact", "contains", "regex"):
        raise InvalidInput("match_type must be exact, contains or regex")
    if not isinstance(pattern, str) or not pattern.strip() or len(pattern) > MAX_PATTERN:
        raise InvalidInput(f"pattern must be 1 to {MAX_PATTERN} characters")
    if match_type == "regex":
        try:
            re.compile(pattern)
        except re.error as exc:
            raise InvalidInput(f"pattern is not a valid regular expression: {exc}") from None
        if _NESTED_QUANTIFIER.search(pattern):
            raise InvalidInput("pattern nests quantifiers like (a+)+, which can take forever to match; simplify it")
    return pattern.strip() if match_type != "regex" else pattern


def _text(reply: dict[str, Any], key: str, hi: int, *, required: bool = True) -> str:
    value = reply.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > hi:
        raise InvalidInput(f"reply.{key} must be text of {'1' if required else '0'} to {hi} characters")
    return value


def _link(reply: dict[str, Any], key: str) -> str:
    url = _text(reply, key, 1000)
    if not (url.startswith(("http://", "https://")) or (url.startswith("/") and not url.startswith("//"))):
        raise InvalidInput(f"reply.{key} must be an http(s) URL or a site path starting with /")
    return url


def _positive(reply: dict[str, Any], key: str, *, required: bool = True) -> int | None:
    value = reply.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput(f"reply.{key} must be a positive integer")
    return value


def check_reply(reply_type: str, reply: Any, intents: tuple[str, ...] = INTENTS) -> dict[str, Any]:
    """The reply of a rule, with only the fields its type uses (`intents`: the names that exist)."""
    if not isinstance(reply, dict):
        raise InvalidInput("reply must be an object")
    if reply_type == "text":
        return {"content": _text(reply, "content", 2000)}
    if reply_type == "news":
        return {
            "title": _text(reply, "title", 64),
            "description": _text(reply, "description", 500, required=False),
            "url": _link(reply, "url"),
            "picurl": _text(reply, "picurl", 500, required=False),
        }
    if reply_type == "link":
        return {
            "title": _text(reply, "title", 64),
            "description": _text(reply, "description", 500, required=False),
            "path": _link(reply, "path"),
        }
    if reply_type == "coupon":
        return {
            "coupon_template_id": _positive(reply, "coupon_template_id"),
            "title": _text(reply, "title", 64, required=False) or "送您一张优惠券",
            "description": _text(reply, "description", 500, required=False),
        }
    if reply_type == "intent":
        intent = reply.get("intent")
        if intent not in intents:
            raise InvalidInput(f"reply.intent must be one of {', '.join(intents)}")
        out: dict[str, Any] = {"intent": intent}
        coupon = _positive(reply, "coupon_template_id", required=False)
        if coupon is not None:
            out["coupon_template_id"] = coupon
        return out
    raise InvalidInput("reply_type must be text, news, link, coupon or intent")
