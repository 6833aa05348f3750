"""The official-account message endpoint's use case: verify, record once, answer within WeChat's 5 s.

Verification (signature, safe-mode decryption and AppId, size, XML without DTDs) comes before anything
is stored: a refused request changes nothing and is logged once. The answer is computed under a budget;
when it runs out the endpoint says "success" at once and a job computes the answer and sends it as a
customer-service message. A retry of a message already recorded gets the first answer (waiting for it
within the budget), never a second processing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, jobs
from core.db import unit_of_work
from engage.accounts import Account, resolve_account
from engage.answer_message import answer_message, fallback
from engage.conversation import Answer, MalformedMessage, MessageContext, check_fields, custom_message
from engage.followers import get_follower
from engage.models import InboundMessage, KeywordRule
from engage.outbox import queue_custom
from engage.record_message import record_message
from wechat.crypto import IncomingMessage, check_signature, open_message, render_reply, seal_reply, text_reply
from wechat.errors import DecryptError, InvalidAppId, InvalidSignature

log = structlog.get_logger(__name__)

REPLY_BUDGET_SECONDS = 3.0  # WeChat waits 5 s; what is left covers the network and the last writes
MAX_BODY_BYTES = 64 * 1024  # a WeChat message is a few KB at most
ANSWER_LATER_JOB = "engage.answer_later"


@dataclass(frozen=True)
class Outcome:
    status: int
    body: str
    media_type: str = "text/plain; charset=utf-8"


def _reject(status: int, reason: str, appid: str | None, remote: str | None) -> Outcome:
    log.warning("wechat_message_rejected", reason=reason, appid=appid or "default", remote=remote)
    return Outcome(status, reason)


def verify_server(account: Account, query: Mapping[str, str], remote: str | None) -> Outcome:
    """GET: WeChat checks the server URL by asking it to echo `echostr` under a valid signature."""
    try:
        check_signature(account.token, query.get("signature", ""), query.get("timestamp", ""), query.get("nonce", ""))
    except InvalidSignature:
        return _reject(403, "bad signature", account.appid, remote)
    return Outcome(200, query.get("echostr", "")[:200])


async def handle_message(
    appid: str | None, query: Mapping[str, str], body: bytes, *, remote: str | None = None
) -> Outcome:
    started = time.monotonic()
    if len(body) > MAX_BODY_BYTES:
        return _reject(413, "message too large", appid, remote)
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        return _reject(400, "XML with a DTD or entities is refused", appid, remote)
    async with unit_of_work() as session:
        account = await resolve_account(session, appid)  # NotFound → 404
    try:
        incoming = open_message(body, query, token=account.token, appid=account.appid, encoding_aes_key=account.aes_key)
        check_fields(incoming.fields)
    except InvalidSignature:
        return _reject(403, "bad signature", account.appid, remote)
    except InvalidAppId:
        return _reject(403, "message for another appid", account.appid, remote)
    except (DecryptError, MalformedMessage, UnicodeDecodeError) as exc:
        return _reject(400, f"malformed message: {exc}"[:200], account.appid, remote)
    if query.get("openid") and query["openid"] != incoming.fields["FromUserName"]:
        return _reject(403, "openid in the URL is not the sender", account.appid, remote)

    recorded = await record_message(account, incoming.fields)
    deadline = started + REPLY_BUDGET_SECONDS
    if recorded.duplicate:
        reply = await _first_reply(recorded.message_id, deadline)
        return _seal(account, incoming, reply)
    ctx = recorded.context
    assert ctx is not None
    try:
        async with asyncio.timeout(max(0.05, deadline - time.monotonic())):
            answer = await _answer(ctx)
    except TimeoutError:
        await _defer(ctx)
        return Outcome(200, "success")
    async with unit_of_work() as session:
        await record_answer(session, ctx, answer)
    return _seal(account, incoming, answer.reply)


async def _answer(ctx: MessageContext) -> Answer:
    try:
        async with unit_of_work() as session:
            return await answer_message(session, ctx)
    except (asyncio.CancelledError, TimeoutError):
        raise
    except Exception:
        # Never an error to the customer: the fallback reply, and the message goes to the agent inbox.
        log.exception("wechat_answer_failed", message_id=ctx.message_id)
        async with unit_of_work() as session:
            return await fallback(session, ctx)


async def _first_reply(message_id: int, deadline: float) -> dict[str, Any] | None:
    """The reply given to the first copy of a retried message, waiting for it until the deadline."""
    while True:
        async with unit_of_work() as session:
            row = (
                await session.execute(
                    select(InboundMessage.status, InboundMessage.reply).where(InboundMessage.id == message_id)
                )
            ).first()
        if row is None or row.status != "received" or time.monotonic() >= deadline:
            return row.reply if row is not None and row.status == "answered" else None
        await asyncio.sleep(0.1)


def _seal(account: Account, incoming: IncomingMessage, reply: dict[str, Any] | None) -> Outcome:
    if not reply:
        return Outcome(200, "success")
    if reply["type"] == "text":
        xml = text_reply(incoming, reply["content"])
    else:
        articles = [
            {
                "title": a["title"],
                "description": a.get("description", ""),
                "url": a["url"],
                "image": a.get("picurl", ""),
            }
            for a in reply["articles"][:1]  # WeChat shows one article in a reply to a user's message
        ]
        xml = render_reply(articles, incoming)
    sealed = seal_reply(
        xml,
        incoming,
        token=account.token,
        appid=account.appid,
        encoding_aes_key=account.aes_key,
        timestamp=int(clock.now().timestamp()),
    )
    return Outcome(200, sealed, "application/xml; charset=utf-8")


async def record_answer(session: AsyncSession, ctx: MessageContext, answer: Answer, *, as_custom: bool = False) -> None:
    """Record what was answered; follow-ups (and, for a deferred answer, the reply) go out through the outbox."""
    await session.execute(
        update(InboundMessage)
        .where(InboundMessage.id == ctx.message_id)
        .values(
            status="answered",
            answered_by=answer.answered_by,
            rule_id=answer.rule_id,
            reply=answer.reply,
            needs_agent=answer.needs_agent,
            answered_at=clock.now(),
        )
    )
    if answer.rule_id is not None:
        await session.execute(
            update(KeywordRule).where(KeywordRule.id == answer.rule_id).values(hits=KeywordRule.hits + 1)
        )
    messages = list(answer.follow_ups)
    if as_custom and answer.reply:
        messages.insert(0, custom_message(answer.reply))
    if messages:
        follower = await get_follower(session, ctx.customer_id)
        for i, message in enumerate(messages):
            await queue_custom(
                session,
                follower,
                message,
                account_id=ctx.account_id,
                customer_id=ctx.customer_id,
                openid=ctx.openid,
                purpose="deferred_answer" if as_custom and i == 0 and answer.reply else "follow_up",
                ref=str(ctx.message_id),
                dedupe_key=f"answer:{ctx.message_id}:{i}",
            )


async def _defer(ctx: MessageContext) -> None:
    async with unit_of_work() as session:
        await session.execute(
            update(InboundMessage).where(InboundMessage.id == ctx.message_id).values(status="deferred")
        )
        await jobs.enqueue(
            session, ANSWER_LATER_JOB, {"message_id": ctx.message_id}, dedupe_key=f"{ANSWER_LATER_JOB}:{ctx.message_id}"
        )
    log.info("wechat_answer_deferred", message_id=ctx.message_id, customer_id=ctx.customer_id)
