"""Targeted pushes: a segment and a message, sent per customer as template or customer-service messages
(the latter only inside the 48 h window) or as one mass send by tag; a log with counts sent/failed/skipped.

Creating a push only writes it and queues its expansion; the worker lists the members into the outbox
and sends them in batches, so a large segment never holds a request or one long transaction.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, jobs
from core.errors import InvalidInput
from engage import links
from engage.accounts import Account, account_by_id, client_for
from engage.models import Outbound, Push
from engage.outbox import CUSTOMER_SERVICE_WINDOW, OUTSIDE_WINDOW, apply_result, send_one, template_for
from engage.push_mass import send_mass
from engage.segments import Segment, parse_segment, segment_members

log = structlog.get_logger(__name__)

EXPAND_JOB = "engage.expand_push"
SEND_JOB = "engage.send_push"
BATCH = 100
CONCURRENCY = 10
MAX_RECIPIENTS = 100_000
MAX_ATTEMPTS = 5


def _str(content: dict[str, Any], key: str, hi: int, *, required: bool = True) -> str:
    value = content.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > hi:
        raise InvalidInput(f"content.{key} must be text of {'1' if required else '0'} to {hi} characters")
    return value


def check_content(mode: str, content: Any, segment: Segment) -> dict[str, Any]:
    if not isinstance(content, dict):
        raise InvalidInput("content must be an object")
    if mode == "template":
        data = content.get("data")
        if not isinstance(data, dict) or not data or not all(isinstance(v, str) for v in data.values()):
            raise InvalidInput('content.data must map template keys to texts, e.g. {"first": "…", "remark": "…"}')
        out: dict[str, Any] = {"data": data}
        if content.get("template_id") is not None:
            out["template_id"] = _str(content, "template_id", 64)
        if content.get("url") is not None:
            out["url"] = _str(content, "url", 1000)
        return out
    if mode == "custom":
        if content.get("title") is not None:
            return {
                "title": _str(content, "title", 64),
                "description": _str(content, "description", 500, required=False),
                "url": _str(content, "url", 1000),
            }
        return {"text": _str(content, "text", 600)}
    if mode == "mass":
        if len(segment.tags) != 1 or segment.as_json() != Segment(tags=segment.tags).as_json():
            raise InvalidInput('a mass send goes to exactly one tag: the segment must be {"tags": [one tag]}')
        return {"text": _str(content, "text", 600)}
    raise InvalidInput("mode must be template, custom or mass")


def _message(push: Push, template_id: str | None, appid: str) -> dict[str, Any]:
    c = push.content
    if push.mode == "template":
        body: dict[str, Any] = {"template_id": template_id, "data": c["data"]}
        if c.get("url"):
            body["url"] = links.h5_url(c["url"], appid) if c["url"].startswith("/") else c["url"]
        return body
    if "text" in c:
        return {"msgtype": "text", "text": {"content": c["text"]}}
    url = links.h5_url(c["url"], appid) if c["url"].startswith("/") else c["url"]
    article = {"title": c["title"], "description": c.get("description", ""), "url": url}
    return {"msgtype": "news", "news": {"articles": [article]}}


async def create_push(
    session: AsyncSession, account: Account, *, name: str, segment: Any, mode: str, content: Any, user_id: int | None
) -> Push:
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise InvalidInput("name must be 1 to 100 characters")
    seg = parse_segment(segment)
    checked = check_content(mode, content, seg)
    if mode == "template" and "template_id" not in checked:
        template_id = await template_for(session, account.id, "push")
        if not template_id:
            raise InvalidInput("give content.template_id, or configure the account's template for purpose 'push'")
        checked["template_id"] = template_id
    push = Push(
        account_id=account.id,
        name=name.strip(),
        segment=seg.as_json(),
        mode=mode,
        content=checked,
        status="queued",
        recipients=0,
        created_by=user_id,
        created_at=clock.now(),
    )
    session.add(push)
    await session.flush()
    await jobs.enqueue(session, EXPAND_JOB, {"push_id": push.id}, dedupe_key=f"{EXPAND_JOB}:{push.id}")
    log.info("push_created", push_id=push.id, mode=mode, account_id=account.id)
    return push


async def expand_push(session: AsyncSession, push_id: int) -> None:
    """The job: the segment's members into the outbox (skipped where WeChat would refuse), then the sends."""
    push = await session.scalar(select(Push).where(Push.id == push_id).with_for_update())
    if push is None or push.status != "queued":
        return
    account = await account_by_id(session, push.account_id)
    segment = parse_segment(push.segment)
    if push.mode == "mass":
        await send_mass(session, push, account, segment)
        return
    members = await segment_members(session, push.account_id, segment, limit=MAX_RECIPIENTS)
    message = _message(push, push.content.get("template_id"), account.appid)
    now = clock.now()
    rows = []
    for m in members:
        closed = push.mode == "custom" and (
            m.last_interaction_at is None or now - m.last_interaction_at > CUSTOMER_SERVICE_WINDOW
        )
        rows.append(
            {
                "account_id": push.account_id,
                "customer_id": m.customer_id,
                "openid": m.openid,
                "channel": "template" if push.mode == "template" else "custom",
                "purpose": "push",
                "ref": str(push.id),
                "push_id": push.id,
                "dedupe_key": f"push:{push.id}:{m.customer_id}",
                "body": message,
                "status": "skipped" if closed else "queued",
                "attempts": 0,
                "error": OUTSIDE_WINDOW if closed else None,
                "created_by": push.created_by,
                "created_at": now,
            }
        )
    for i in range(0, len(rows), 1000):
        await session.execute(insert(Outbound), rows[i : i + 1000])
    push.recipients = len(rows)
    push.status = "sending"
    await jobs.enqueue(session, SEND_JOB, {"push_id": push.id, "round": 1}, dedupe_key=f"{SEND_JOB}:{push.id}:1")
    log.info("push_expanded", push_id=push.id, recipients=len(rows))


async def send_push_batch(session: AsyncSession, push_id: int, round_no: int) -> None:
    """The job: up to BATCH queued messages of the push, CONCURRENCY at a time; then the next batch."""
    push = await session.get(Push, push_id)
    if push is None or push.status != "sending":
        return
    rows = list(
        (
            await session.scalars(
                select(Outbound)
                .where(Outbound.push_id == push_id, Outbound.status == "queued")
                .order_by(Outbound.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
    )
    client = client_for(await account_by_id(session, push.account_id))
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(row: Outbound) -> Any:
        async with gate:
            return await send_one(client, row)

    results = await asyncio.gather(*(one(r) for r in rows))
    retry_soon = False
    for row, result in zip(rows, results, strict=True):
        apply_result(row, result)
        if result.status == "retry":
            if row.attempts >= MAX_ATTEMPTS:
                row.status = "failed"
            else:
                retry_soon = True
    await session.flush()
    left = await session.scalar(select(func.count()).where(Outbound.push_id == push_id, Outbound.status == "queued"))
    if left:
        await jobs.enqueue(
            session,
            SEND_JOB,
            {"push_id": push_id, "round": round_no + 1},
            delay=jobs.backoff(1) if retry_soon else None,
            dedupe_key=f"{SEND_JOB}:{push_id}:{round_no + 1}",
        )
        return
    push.status, push.finished_at = "done", clock.now()
    log.info("push_done", push_id=push_id)


async def push_log(session: AsyncSession, account_id: int, limit: int = 50) -> list[dict[str, Any]]:
    pushes = list(
        (
            await session.scalars(
                select(Push)
                .where(Push.account_id == account_id)
                .order_by(Push.id.desc())
                .limit(max(1, min(limit, 200)))
            )
        ).all()
    )
    counts: dict[int, dict[str, int]] = {p.id: {} for p in pushes}
    if pushes:
        rows = await session.execute(
            select(Outbound.push_id, Outbound.status, func.count())
            .where(Outbound.push_id.in_(list(counts)))
            .group_by(Outbound.push_id, Outbound.status)
        )
        for push_id, status, n in rows:
            if push_id is not None:
                counts[push_id][status] = int(n)
    return [
        {
            "push": p,
            "sent": p.recipients if p.mode == "mass" and p.status == "done" else counts[p.id].get("sent", 0),
            "failed": counts[p.id].get("failed", 0),
            "skipped": counts[p.id].get("skipped", 0),
            "queued": counts[p.id].get("queued", 0),
        }
        for p in pushes
    ]
