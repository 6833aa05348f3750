"""Keyword rules managed by admins: create, change, remove, and try a text against them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InvalidInput, NotFound
from engage.intents import INTENT_HANDLERS
from engage.matching import check_pattern, check_reply, detect_intent, pick_rule
from engage.models import KeywordRule

MAX_PRIORITY = 1_000_000
_FIELDS = ("name", "match_type", "pattern", "priority", "reply_type", "reply", "active")


async def list_rules(session: AsyncSession, account_id: int) -> list[KeywordRule]:
    """The account's rules and the rules of every account, in the order they are tried."""
    q = (
        select(KeywordRule)
        .where(or_(KeywordRule.account_id == account_id, KeywordRule.account_id.is_(None)))
        .order_by(KeywordRule.priority.desc(), KeywordRule.id)
    )
    return list((await session.scalars(q)).all())


async def get_rule(session: AsyncSession, rule_id: int) -> KeywordRule:
    rule = await session.get(KeywordRule, rule_id)
    if rule is None:
        raise NotFound(f"keyword rule {rule_id} does not exist")
    return rule


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    out["pattern"] = check_pattern(values["match_type"], values["pattern"])
    out["reply"] = check_reply(values["reply_type"], values["reply"], tuple(INTENT_HANDLERS))
    priority = values.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int) or abs(priority) > MAX_PRIORITY:
        raise InvalidInput(f"priority must be an integer between -{MAX_PRIORITY} and {MAX_PRIORITY}")
    name = values.get("name", "")
    if not isinstance(name, str) or len(name) > 100:
        raise InvalidInput("name must be at most 100 characters")
    return out


async def create_rule(session: AsyncSession, account_id: int | None, values: dict[str, Any]) -> KeywordRule:
    """`account_id` None: the rule answers on every account of the matrix."""
    checked = _checked({"priority": 0, "name": "", "active": True, **values})
    rule = KeywordRule(account_id=account_id, hits=0, **{k: checked[k] for k in _FIELDS})
    session.add(rule)
    await session.flush()
    return rule


async def update_rule(session: AsyncSession, rule_id: int, changes: dict[str, Any]) -> KeywordRule:
    rule = await get_rule(session, rule_id)
    unknown = set(changes) - set(_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown rule fields: {', '.join(sorted(unknown))}")
    merged = {k: getattr(rule, k) for k in _FIELDS} | changes
    checked = _checked(merged)
    for k in _FIELDS:
        setattr(rule, k, checked[k])
    await session.flush()
    return rule


async def delete_rule(session: AsyncSession, rule_id: int) -> None:
    await session.delete(await get_rule(session, rule_id))
    await session.flush()


async def try_text(session: AsyncSession, account_id: int, text: str) -> dict[str, Any]:
    """What would answer this text: a rule, a built-in intent, or the fallback (for the admin console)."""
    from engage.answer_message import active_rules

    rule = pick_rule(await active_rules(session, account_id), text)
    if rule is not None:
        return {"answered_by": "rule", "rule_id": rule.id, "reply_type": rule.reply_type}
    intent = detect_intent(text)
    if intent is not None:
        return {"answered_by": "intent", "intent": intent}
    return {"answered_by": "fallback"}
