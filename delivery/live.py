"""Live updates for the staff console: messages to Redis pub/sub after commit, streamed as server-sent events.

Redis is a fast path only: a lost message is a stale screen until the console's next poll, never a
lost offer (PostgreSQL holds the offers). Channels: one per store, plus HQ's for escalations.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import structlog
from litestar import Request, get
from litestar.params import FromQuery
from litestar.response import ServerSentEvent, ServerSentEventMessage
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from core import clock
from core.auth import require_principal, roles_guard
from core.db import DbSession
from core.errors import Forbidden
from core.redis import get_redis
from delivery.settings import dispatch_settings
from shop.access import visible_store_ids

log = structlog.get_logger(__name__)

PREFIX = "delivery:live:store:"
_KEY = "delivery_live_pending"
_tasks: set[asyncio.Task[None]] = set()
KEEPALIVE_S = 15.0


def store_channel(store_id: int) -> str:
    return f"{PREFIX}{store_id}"


def publish_after_commit(session: AsyncSession, store_id: int, kind: str, data: dict[str, Any]) -> None:
    """Queue a message for the store's console; sent only if this transaction commits."""
    if not dispatch_settings().live_updates:
        return
    sync = session.sync_session
    pending: list[tuple[str, str]] | None = sync.info.get(_KEY)
    if pending is None:
        pending = sync.info[_KEY] = []
        if not event.contains(sync, "after_commit", _on_commit):
            event.listen(sync, "after_commit", _on_commit)
            event.listen(sync, "after_rollback", _on_rollback)
    body = {"kind": kind, "store_id": store_id, "at": clock.now().isoformat(), **data}
    pending.append((store_channel(store_id), json.dumps(body, default=str, ensure_ascii=False)))


def _on_commit(sync: Session) -> None:
    pending: list[tuple[str, str]] = sync.info.pop(_KEY, None) or []
    if not pending:
        return
    task = asyncio.get_running_loop().create_task(_send(pending))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


def _on_rollback(sync: Session) -> None:
    sync.info.pop(_KEY, None)


async def _send(messages: list[tuple[str, str]]) -> None:
    try:
        async with get_redis().pipeline(transaction=False) as pipe:
            for channel, body in messages:
                pipe.publish(channel, body)
            await pipe.execute()
    except Exception as exc:  # the console polls too; PostgreSQL stays the truth
        log.warning("live_update_failed", error=f"{type(exc).__name__}: {exc}"[:200])


async def drain() -> None:
    """Wait for live messages in flight (tests, simulation)."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)


async def _stream(channels: list[str] | None) -> AsyncIterator[ServerSentEventMessage]:
    pubsub = get_redis().pubsub()
    try:
        try:
            if channels is None:
                await pubsub.psubscribe(PREFIX + "*")
            else:
                await pubsub.subscribe(*channels)
        except RedisError as exc:  # the console falls back to polling /api/staff/offers
            log.warning("live_stream_unavailable", error=type(exc).__name__)
            yield ServerSentEventMessage(event="unavailable", data=json.dumps({"poll": "/api/staff/offers"}))
            return
        yield ServerSentEventMessage(event="hello", data=json.dumps({"channels": channels or ["*"]}))
        idle = 0.0
        while True:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if msg is None:
                idle += 1.0
                if idle >= KEEPALIVE_S:
                    idle = 0.0
                    yield ServerSentEventMessage(comment="keep-alive")
                continue
            idle = 0.0
            raw = msg["data"]
            body = raw.decode() if isinstance(raw, bytes) else str(raw)
            kind = json.loads(body).get("kind", "message")
            yield ServerSentEventMessage(event=kind, data=body)
    finally:
        await pubsub.aclose()


@get(
    "/api/staff/offers/stream",
    guards=[roles_guard("staff")],
    summary="Live offer and delivery updates for my stores (server-sent events)",
    tags=["dispatch (staff)"],
)
async def offers_stream(
    request: Request[Any, Any, Any], db_session: DbSession, store_id: FromQuery[int | None] = None
) -> ServerSentEvent:
    p = require_principal(request)
    visible = await visible_store_ids(db_session, p)
    if store_id is not None:
        if visible is not None and store_id not in visible:
            raise Forbidden(f"you do not work at store {store_id}")
        channels: list[str] | None = [store_channel(store_id)]
    elif visible is None:
        channels = None  # admin and finance: every store
    else:
        if not visible:
            raise Forbidden("you are not linked to any store yet; ask HQ to add you to your store")
        channels = [store_channel(i) for i in visible]
    return ServerSentEvent(_stream(channels), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
