"""Answering a recorded message: the admins' keyword rules first, then the built-in intents, then the
fallback (which puts the message in the agent inbox). Menu clicks, follows and scans have their own replies."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from engage import links, wording
from engage.conversation import NO_ANSWER, Answer, MessageContext, news_reply, text_reply
from engage.intents import INTENT_HANDLERS, coupon_card, run_intent
from engage.matching import MENU_KEYS, RuleView, detect_intent, pick_rule
from engage.models import AccountTexts, KeywordRule
from shop.services import get_store


async def account_texts(session: AsyncSession, account_id: int) -> tuple[str, str]:
    """(welcome, fallback) of the account."""
    row = await session.get(AccountTexts, account_id)
    if row is None:
        return wording.DEFAULT_WELCOME, wording.DEFAULT_FALLBACK
    return row.welcome_text, row.fallback_text


async def active_rules(session: AsyncSession, account_id: int) -> list[RuleView]:
    rows = (
        await session.execute(
            select(
                KeywordRule.id,
                KeywordRule.match_type,
                KeywordRule.pattern,
                KeywordRule.priority,
                KeywordRule.reply_type,
                KeywordRule.reply,
            ).where(
                KeywordRule.active,
                or_(KeywordRule.account_id == account_id, KeywordRule.account_id.is_(None)),
            )
        )
    ).all()
    return [RuleView(*r) for r in rows]


async def reply_of_rule(session: AsyncSession, rule: RuleView, ctx: MessageContext) -> Answer:
    r: dict[str, Any] = rule.reply
    if rule.reply_type == "text":
        return Answer(text_reply(r["content"]), "rule", rule.id)
    if rule.reply_type == "news":
        reply = news_reply(r["title"], r.get("description", ""), links.absolute(r["url"]), r.get("picurl", ""))
        return Answer(reply, "rule", rule.id)
    if rule.reply_type == "link":
        path = r["path"]
        url = links.h5_url(path, ctx.appid) if path.startswith("/") else path
        return Answer(news_reply(r["title"], r.get("description", ""), url), "rule", rule.id)
    if rule.reply_type == "coupon":
        card = coupon_card(int(r["coupon_template_id"]), ctx.appid, r.get("title") or "", r.get("description", ""))
        reply = {"type": "news", "articles": card["news"]["articles"]}
        return Answer(reply, "rule", rule.id)
    # intent: a built-in answer the admins pointed more words at (e.g. "想吃汉堡" → nearest store + coupon)
    found = await run_intent(session, r["intent"], ctx, r)
    return Answer(found.reply, "rule", rule.id, found.needs_agent, found.follow_ups)


async def fallback(session: AsyncSession, ctx: MessageContext) -> Answer:
    _, text = await account_texts(session, ctx.account_id)
    return Answer(text_reply(text), "fallback", needs_agent=True)


async def answer_text(session: AsyncSession, ctx: MessageContext, text: str) -> Answer:
    rule = pick_rule(await active_rules(session, ctx.account_id), text)
    if rule is not None and (rule.reply_type != "intent" or rule.reply.get("intent") in INTENT_HANDLERS):
        return await reply_of_rule(session, rule, ctx)
    name = detect_intent(text)
    if name is not None:
        return await run_intent(session, name, ctx, {})
    return await fallback(session, ctx)


async def welcome(session: AsyncSession, ctx: MessageContext) -> Answer:
    text, _ = await account_texts(session, ctx.account_id)
    if ctx.scene is not None and ctx.scene.store_id is not None:
        try:
            store = await get_store(session, ctx.scene.store_id)
        except NotFound:  # a QR code of a store since deleted: the plain welcome
            return Answer(text_reply(text), "none")
        reply = news_reply(f"欢迎光临{store.name}！", text, links.store_order_url(store.id, ctx.appid))
        return Answer(reply, "none")
    return Answer(text_reply(text), "none")


async def answer_click(session: AsyncSession, ctx: MessageContext) -> Answer:
    key = ctx.content
    if key in MENU_KEYS:
        found = await run_intent(session, MENU_KEYS[key], ctx, {})
        return Answer(found.reply, "none", follow_ups=found.follow_ups)
    # Admins map their own menu keys to replies with an exact rule on the key.
    rules = [r for r in await active_rules(session, ctx.account_id) if r.match_type == "exact"]
    rule = pick_rule(rules, key)
    if rule is not None:
        return await reply_of_rule(session, rule, ctx)
    return Answer(text_reply(wording.UNKNOWN_MENU), "none")


async def answer_message(session: AsyncSession, ctx: MessageContext) -> Answer:
    """What to answer; reads only (the caller records it)."""
    if ctx.msg_type == "event":
        if ctx.event == "subscribe":
            return await welcome(session, ctx)
        if ctx.event == "SCAN" and ctx.scene is not None and ctx.scene.store_id is not None:
            return await welcome(session, ctx)
        if ctx.event == "CLICK":
            return await answer_click(session, ctx)
        return NO_ANSWER
    if ctx.msg_type == "location":
        return await run_intent(session, "nearest_stores", ctx, {})
    if ctx.msg_type in ("text", "voice", "link") and ctx.content.strip():
        return await answer_text(session, ctx, ctx.content)
    return await fallback(session, ctx)
