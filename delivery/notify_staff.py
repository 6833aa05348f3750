"""Staff messages about offers through the outbox: a job per store written with the state change, a WeCom
text card sent by the worker after commit (at-least-once, keyed by the job), plus the console's live update."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, jobs
from core.settings import get_settings
from core.users import User
from delivery.live import publish_after_commit
from delivery.settings import dispatch_settings
from shop.stores.models import Store, StoreStaff

log = structlog.get_logger(__name__)

WECOM_JOB = "delivery.wecom_card"
HQ = "hq"  # the recipients: staff of the HQ store and the admins


def _hhmm(at: datetime) -> str:
    return at.astimezone(clock.SHANGHAI).strftime("%H:%M")


def _console_url(path: str) -> str:
    return f"{get_settings().base_url}/staff{path}"


def offer_card(
    number: str, offer_id: int, distance_m: float, items: int, deadline: datetime, promise: datetime
) -> dict[str, str]:
    return {
        "title": f"急送订单待接单 {number}",
        "description": (
            f'<div class="gray">{_hhmm(clock.now())} 附近顾客下单，一小时内送达</div>'
            f'<div class="normal">距顾客 {distance_m / 1000:.1f} 公里 · {items} 件商品 · {_hhmm(promise)} 前送达</div>'
            f'<div class="highlight">请在 {_hhmm(deadline)} 前接单，先到先得</div>'
        ),
        "url": _console_url(f"?offer={offer_id}"),
        "btntxt": "接单",
    }


def closed_card(number: str, why: str) -> dict[str, str]:
    return {
        "title": f"急送订单已撤回 {number}",
        "description": f'<div class="gray">{_hhmm(clock.now())}</div><div class="normal">{why}</div>',
        "url": _console_url(""),
        "btntxt": "详情",
    }


def hq_card(number: str, title: str, why: str, order_public_id: str) -> dict[str, str]:
    return {
        "title": f"{title} {number}",
        "description": f'<div class="gray">{_hhmm(clock.now())}</div><div class="highlight">{why}</div>',
        "url": _console_url(f"?order={order_public_id}"),
        "btntxt": "处理",
    }


async def tell_store(
    session: AsyncSession, store_id: int, kind: str, card: dict[str, str], live: dict[str, Any], key: str
) -> None:
    """A WeCom card for the store's staff (outbox) and a live console update, both after commit."""
    publish_after_commit(session, store_id, kind, live)
    if dispatch_settings().notify_staff:
        await jobs.enqueue(
            session, WECOM_JOB, {"to": store_id, "kind": kind, "card": card}, dedupe_key=f"delivery.wecom:{key}"
        )


async def tell_hq(session: AsyncSession, kind: str, card: dict[str, str], live: dict[str, Any], key: str) -> None:
    hq = await session.scalar(select(Store.id).where(Store.is_hq))
    if hq is not None:
        publish_after_commit(session, hq, kind, live)
    if dispatch_settings().notify_staff:
        await jobs.enqueue(
            session, WECOM_JOB, {"to": HQ, "kind": kind, "card": card}, dedupe_key=f"delivery.wecom:{key}"
        )


async def recipients(session: AsyncSession, to: int | str) -> list[str]:
    """WeCom userids (our usernames) of the store's active staff, or of HQ: the HQ store's staff and admins."""
    q = select(User.username).where(User.active)
    if to == HQ:
        hq_staff = select(StoreStaff.user_id).join(Store, Store.id == StoreStaff.store_id).where(Store.is_hq)
        q = q.where((User.role == "admin") | User.id.in_(hq_staff))
    else:
        q = q.where(User.id.in_(select(StoreStaff.user_id).where(StoreStaff.store_id == int(to))))
    return sorted((await session.scalars(q)).all())


async def send_card(session: AsyncSession, payload: dict[str, Any]) -> None:
    """The outbox job: one text card to everyone it is for (WeCom takes up to 1000 userids per call)."""
    from wechat.wecom import WeComApp

    users = await recipients(session, payload["to"])
    if not users:
        log.warning("wecom_no_recipients", to=payload["to"], kind=payload.get("kind"))
        return
    card = payload["card"]
    result = await WeComApp.from_settings().send_textcard(
        users[:1000], card["title"], card["description"], card["url"], card.get("btntxt", "详情")
    )
    log.info("wecom_card_sent", to=payload["to"], kind=payload.get("kind"), users=len(users), msgid=result.msgid)
    if result.invalid_users:
        log.warning("wecom_invalid_users", to=payload["to"], users=result.invalid_users)
