"""The custom menu: admins edit it (checked against WeChat's limits before anything is sent) and publish
it through menu/create, from the worker (the outbox), so a slow or failing WeChat never blocks the console."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, jobs
from core.errors import NotFound
from core.settings import get_settings
from engage.accounts import account_by_id, client_for
from engage.menu_rules import absolute_urls, validate_menu
from engage.models import Menu
from engage.outbox import TRANSIENT_ERRCODES
from wechat.errors import AccessTokenError, WeChatAPIError

log = structlog.get_logger(__name__)

PUBLISH_JOB = "engage.publish_menu"

# 点单 / 附近门店 / 我的 (订单, 会员卡, 优惠券): site paths become absolute when published.
DEMO_MENU: dict[str, Any] = {
    "button": [
        {"type": "view", "name": "点单", "url": "/auth/wechat?next=/"},
        {"type": "click", "name": "附近门店", "key": "NEAREST_STORES"},
        {
            "name": "我的",
            "sub_button": [
                {"type": "click", "name": "订单", "key": "MY_ORDERS"},
                {"type": "view", "name": "会员卡", "url": "/auth/wechat?next=/member"},
                {"type": "view", "name": "优惠券", "url": "/auth/wechat?next=/coupons"},
            ],
        },
    ]
}


async def get_menu(session: AsyncSession, account_id: int) -> Menu:
    menu = await session.get(Menu, account_id)
    if menu is None:
        raise NotFound("this account has no menu yet; save one first")
    return menu


async def save_menu(session: AsyncSession, account_id: int, menu: Any, user_id: int | None) -> Menu:
    """Check and store the menu as a draft (MenuInvalid, nothing stored, when it breaks WeChat's rules)."""
    checked = validate_menu(menu, base_url=get_settings().base_url)
    row = await session.scalar(select(Menu).where(Menu.account_id == account_id).with_for_update())
    if row is None:
        row = Menu(account_id=account_id, menu=checked, version=1, status="draft", updated_by=user_id)
        session.add(row)
    else:
        row.menu, row.version, row.updated_by = checked, row.version + 1, user_id
        row.status, row.error = "draft", None
    await session.flush()
    return row


async def publish_menu(
    session: AsyncSession,
    account_id: int,
    user_id: int | None,
    menu: Any = None,
    *,
    dedupe: bool = True,
    delay: timedelta | None = None,
) -> Menu:
    """Queue the menu (the given one, or the saved draft) for menu/create."""
    row = (
        await save_menu(session, account_id, menu, user_id) if menu is not None else await get_menu(session, account_id)
    )
    validate_menu(row.menu, base_url=get_settings().base_url)
    row.status, row.error = "publishing", None
    await session.flush()
    key = f"{PUBLISH_JOB}:{account_id}:{row.version}" if dedupe else None
    await jobs.enqueue(session, PUBLISH_JOB, {"account_id": account_id}, dedupe_key=key, delay=delay)
    log.info("menu_publish_queued", account_id=account_id, version=row.version)
    return row


async def run_publish(session: AsyncSession, account_id: int) -> None:
    """The job: send the current menu to WeChat; a refusal is recorded on the menu, a transport error retries."""
    row = await session.scalar(select(Menu).where(Menu.account_id == account_id).with_for_update())
    if row is None:
        return
    account = await account_by_id(session, account_id)
    try:
        await client_for(account).create_menu(absolute_urls(row.menu, get_settings().base_url))
    except AccessTokenError:
        raise
    except WeChatAPIError as exc:
        if exc.errcode in TRANSIENT_ERRCODES:
            raise
        row.status, row.error = "failed", f"WeChat refused the menu: {exc.errcode} {exc.errmsg}"[:500]
        log.warning("menu_publish_refused", account_id=account_id, errcode=exc.errcode)
        return
    row.status, row.error = "published", None
    row.published_version, row.published_at = row.version, clock.now()
    log.info("menu_published", account_id=account_id, version=row.version)
