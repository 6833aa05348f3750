"""Recording a message WeChat pushed, once per dedupe key: the customer found or created (shop), the
follower updated (follow, unfollow, 48 h window, location), referrals attributed, CustomerSubscribed published.

One short transaction, committed before any answer is computed, so a retry of the same message that
arrives meanwhile finds it and never processes it twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.db import unit_of_work
from core.events import CustomerSubscribed, publish
from engage.accounts import Account
from engage.conversation import MessageContext, build_context, dedupe_key
from engage.followers import WINDOW_EVENTS, follower_for_update
from engage.models import InboundMessage
from engage.referrals import attribute_scene
from shop.services import find_or_create_customer

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Recorded:
    message_id: int
    duplicate: bool
    context: MessageContext | None  # None for a repeat


def _content(fields: dict[str, Any]) -> str:
    for name in ("Content", "Recognition", "EventKey", "Label", "Title", "Url"):
        value = fields.get(name)
        if value:
            return str(value)[:2048]
    return ""


async def record_message(account: Account, fields: dict[str, Any]) -> Recorded:
    """Store the message (or find the first copy of a retried one) and apply what it means."""
    now = clock.now()
    key = dedupe_key(fields)
    async with unit_of_work() as session:
        message_id = await session.scalar(
            pg_insert(InboundMessage)
            .values(
                account_id=account.id,
                dedupe_key=key,
                openid=fields["FromUserName"],
                msg_type=fields["MsgType"],
                event=(str(fields["Event"])[:32] if fields.get("Event") else None),
                content=_content(fields),
                fields=fields,
                received_at=now,
                status="received",
                needs_agent=False,
            )
            .on_conflict_do_nothing(index_elements=[InboundMessage.account_id, InboundMessage.dedupe_key])
            .returning(InboundMessage.id)
        )
        if message_id is None:
            first = await session.scalar(
                select(InboundMessage.id).where(
                    InboundMessage.account_id == account.id, InboundMessage.dedupe_key == key
                )
            )
            log.info("wechat_message_repeat", appid=account.appid, message_id=first, key=key)
            return Recorded(int(first or 0), True, None)
        customer, created = await find_or_create_customer(session, account.id, fields["FromUserName"])
        await session.execute(
            update(InboundMessage).where(InboundMessage.id == message_id).values(customer_id=customer.id)
        )
        ctx = build_context(
            fields, account_id=account.id, appid=account.appid, message_id=message_id, customer_id=customer.id
        )
        await apply_message(session, ctx, now=now)
    log.info(
        "wechat_message_received",
        appid=account.appid,
        message_id=message_id,
        customer_id=ctx.customer_id,
        msg_type=ctx.msg_type,
        wechat_event=ctx.event,
        new_customer=created,
    )
    return Recorded(message_id, False, ctx)


async def apply_message(session: AsyncSession, ctx: MessageContext, *, now: Any) -> None:
    follower = await follower_for_update(
        session, account_id=ctx.account_id, customer_id=ctx.customer_id, openid=ctx.openid, now=now
    )
    if ctx.event == "unsubscribe":
        follower.subscribed = False
        follower.unsubscribed_at = now
        log.info("customer_unsubscribed", customer_id=ctx.customer_id)
        return
    if ctx.event == "subscribe":
        reactivated = follower.unsubscribed_at is not None and not follower.subscribed
        follower.subscribed = True
        follower.subscribed_at = now
        follower.subscribe_scene = ctx.scene.raw if ctx.scene else None
        follower.last_interaction_at = now
        if ctx.scene is not None:
            await attribute_scene(
                session, account_id=ctx.account_id, customer_id=ctx.customer_id, scene=ctx.scene, subscribed=True
            )
        await session.flush()
        await publish(
            session, CustomerSubscribed(customer_id=ctx.customer_id, scene=ctx.scene.raw if ctx.scene else None)
        )
        log.info(
            "customer_subscribed", customer_id=ctx.customer_id, scene=follower.subscribe_scene, reactivated=reactivated
        )
        return
    if not follower.subscribed:
        # WeChat delivers only followers' messages: this one followed before we were listening.
        follower.subscribed = True
        follower.subscribed_at = follower.subscribed_at or now
    if ctx.is_user_message or ctx.event in WINDOW_EVENTS:
        follower.last_interaction_at = now
    if ctx.location is not None:
        follower.last_lat, follower.last_lng = ctx.location
        follower.last_location_at = now
    if ctx.event == "SCAN" and ctx.scene is not None:
        await attribute_scene(
            session, account_id=ctx.account_id, customer_id=ctx.customer_id, scene=ctx.scene, subscribed=False
        )
