"""Coupons through the official account: reminders before a coupon expires (shop's CouponExpiring), and admins
issuing a coupon template to a push segment (followers narrowed by tag, region, last order)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import structlog
from litestar import Controller, Request, post
from litestar.params import FromPath, FromQuery, JSONBody
from msgspec import Meta
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import require_principal, roles_guard
from core.clock import SHANGHAI
from core.db import DbSession
from core.events import CouponExpiring
from engage import links
from engage.accounts import resolve_account
from engage.notify_orders import notify_customer
from engage.segments import parse_segment, segment_members
from shop.audit import Actor
from shop.coupons.issue_coupons import issue_to
from shop.coupons.schemas import IssueOut

log = structlog.get_logger(__name__)

MAX_SEGMENT_ISSUE = 50_000


async def remind_expiring(session: AsyncSession, event: CouponExpiring) -> None:
    """Template message "优惠券即将过期" (or a text inside the 48 h window), in a savepoint: never fatal."""
    ends = event.valid_until.astimezone(SHANGHAI).strftime("%m月%d日 %H:%M")
    try:
        async with session.begin_nested():
            await notify_customer(
                session,
                event.customer_id,
                "coupon_expiring",
                {
                    "first": "您有一张优惠券即将过期，别忘了使用哦。",
                    "keyword1": event.title,
                    "keyword2": f"{ends}到期",
                    "remark": "点击查看我的优惠券",
                },
                ref=f"coupon:{event.coupon_id}",
                url=links.h5_url("/coupons"),
                fallback_text=f"您的优惠券「{event.title}」将于{ends}到期，别忘了使用哦。",
            )
    except Exception:
        log.exception("coupon_reminder_failed", coupon_id=event.coupon_id)


class SegmentIssueIn(msgspec.Struct, forbid_unknown_fields=True):
    segment: dict[str, Any]
    limit: Annotated[int, Meta(ge=1, le=MAX_SEGMENT_ISSUE)] = 10_000


class CouponCampaignController(Controller):
    path = "/api/engage/coupons"
    tags = ["engage admin"]
    guards = [roles_guard("admin")]

    @post("/{template_id:int}/issue-to-segment", summary="Issue one coupon to each follower of a segment (admin)")
    async def issue_to_segment(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        template_id: FromPath[int],
        data: JSONBody[SegmentIssueIn],
        appid: FromQuery[str | None] = None,
    ) -> IssueOut:
        account = await resolve_account(db_session, appid)
        segment = parse_segment(data.segment)
        members = await segment_members(db_session, account.id, segment, limit=data.limit)
        me = require_principal(request)
        actor = Actor.user(me.id, me.role)
        return await issue_to(db_session, template_id, [m.customer_id for m in members], actor, source="segment")
