"""The agent inbox: messages no rule or intent could answer, answered by staff/admins as customer-service
messages inside WeChat's 48 h window; and the daily share of messages answered automatically."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.clock import SHANGHAI
from core.errors import Conflict, InvalidInput, NotFound
from engage.conversation import USER_MESSAGE_TYPES
from engage.followers import get_follower
from engage.models import Follower, InboundMessage
from engage.outbox import CUSTOMER_SERVICE_WINDOW, queue_custom, window_open
from shop.customers.models import Customer

log = structlog.get_logger(__name__)

MAX_REPLY = 600  # WeChat takes 2048 bytes of text; 600 Chinese characters stay under it


@dataclass(frozen=True)
class InboxItem:
    message_id: int
    customer_id: int | None
    nickname: str
    openid: str
    msg_type: str
    content: str
    received_at: datetime
    handled_at: datetime | None
    window_open: bool
    window_closes_at: datetime | None


async def list_inbox(
    session: AsyncSession, account_id: int, *, status: str = "open", limit: int = 50, before_id: int | None = None
) -> list[InboxItem]:
    if status not in ("open", "handled", "all"):
        raise InvalidInput("status must be open, handled or all")
    q = (
        select(InboundMessage, Customer.nickname, Follower)
        .outerjoin(Customer, Customer.id == InboundMessage.customer_id)
        .outerjoin(Follower, Follower.customer_id == InboundMessage.customer_id)
        .where(InboundMessage.account_id == account_id, InboundMessage.needs_agent)
    )
    if status == "open":
        q = q.where(InboundMessage.handled_at.is_(None))
    elif status == "handled":
        q = q.where(InboundMessage.handled_at.is_not(None))
    if before_id is not None:
        q = q.where(InboundMessage.id < before_id)
    rows = (await session.execute(q.order_by(InboundMessage.id.desc()).limit(max(1, min(limit, 200))))).all()
    now = clock.now()
    return [
        InboxItem(
            message_id=m.id,
            customer_id=m.customer_id,
            nickname=nickname or "",
            openid=m.openid,
            msg_type=m.msg_type,
            content=m.content,
            received_at=m.received_at,
            handled_at=m.handled_at,
            window_open=window_open(f, now),
            window_closes_at=(f.last_interaction_at + CUSTOMER_SERVICE_WINDOW) if f and f.last_interaction_at else None,
        )
        for m, nickname, f in rows
    ]


async def _message(session: AsyncSession, message_id: int, account_id: int | None) -> InboundMessage:
    m = await session.scalar(select(InboundMessage).where(InboundMessage.id == message_id).with_for_update())
    if m is None or (account_id is not None and m.account_id != account_id):
        raise NotFound(f"message {message_id} does not exist")
    return m


async def reply_to_message(
    session: AsyncSession, message_id: int, content: str, user_id: int, *, account_id: int | None = None
) -> int:
    """Queue a customer-service text to the sender and mark the message handled; Conflict after 48 h."""
    if not isinstance(content, str) or not content.strip() or len(content) > MAX_REPLY:
        raise InvalidInput(f"a reply is 1 to {MAX_REPLY} characters")
    m = await _message(session, message_id, account_id)
    if m.customer_id is None:
        raise Conflict("the customer of this message no longer exists")
    follower = await get_follower(session, m.customer_id)
    if not window_open(follower):
        raise Conflict(
            "WeChat accepts customer-service messages only within 48 hours of the customer's last message; "
            "this customer can only be reached by a template message now"
        )
    outbound_id = await queue_custom(
        session,
        follower,
        {"msgtype": "text", "text": {"content": content.strip()}},
        account_id=m.account_id,
        customer_id=m.customer_id,
        openid=m.openid,
        purpose="agent_reply",
        ref=str(m.id),
        created_by=user_id,
    )
    if m.handled_at is None:
        m.handled_at, m.handled_by = clock.now(), user_id
    await session.flush()
    log.info("agent_replied", message_id=m.id, user_id=user_id, outbound_id=outbound_id)
    return int(outbound_id or 0)


async def close_message(session: AsyncSession, message_id: int, user_id: int, *, account_id: int | None = None) -> None:
    """Mark handled without a reply (spam, already solved by phone…)."""
    m = await _message(session, message_id, account_id)
    if m.handled_at is None:
        m.handled_at, m.handled_by = clock.now(), user_id
        await session.flush()


async def auto_answer_share(session: AsyncSession, account_id: int, days: int = 14) -> list[dict[str, Any]]:
    """Per business day (Asia/Shanghai): customer messages, how many rules/intents answered, the share."""
    if not 1 <= days <= 366:
        raise InvalidInput("days must be 1 to 366")
    today = clock.now_shanghai().date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=SHANGHAI)
    day = func.date(func.timezone("Asia/Shanghai", InboundMessage.received_at))
    auto = case((InboundMessage.answered_by.in_(("rule", "intent")), 1), else_=0)
    rows = (
        await session.execute(
            select(day.label("day"), func.count().label("messages"), func.sum(auto).label("auto"))
            .where(
                and_(
                    InboundMessage.account_id == account_id,
                    InboundMessage.received_at >= since,
                    InboundMessage.msg_type.in_(USER_MESSAGE_TYPES),
                )
            )
            .group_by(day)
        )
    ).all()
    by_day = {r.day: (int(r.messages), int(r.auto or 0)) for r in rows}
    out = []
    for i in range(days):
        d = first + timedelta(days=i)
        messages, answered = by_day.get(d, (0, 0))
        out.append(
            {
                "day": d.isoformat(),
                "messages": messages,
                "auto_answered": answered,
                "share": round(answered / messages, 4) if messages else None,
            }
        )
    return out
