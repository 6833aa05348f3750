"""New followers get the coupons meant for them: templates with auto_issue = 'subscribe', and the template a
campaign QR code names (scene `coupon:<template code>`). Each issue runs in a savepoint: an exhausted quota or a
coupon already given never undoes the follow."""

from __future__ import annotations

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.events import CustomerSubscribed
from shop.coupons.claim_coupon import issue_quietly
from shop.coupons.models import CouponTemplate

log = structlog.get_logger(__name__)

SCENE_PREFIX = "coupon:"


async def issue_on_subscribe(session: AsyncSession, event: CustomerSubscribed) -> None:
    now = clock.now()
    wanted = CouponTemplate.auto_issue == "subscribe"
    if event.scene and event.scene.startswith(SCENE_PREFIX):
        wanted = wanted | (CouponTemplate.code == event.scene[len(SCENE_PREFIX) :])
    ids = (
        await session.scalars(
            select(CouponTemplate.id)
            .where(wanted, CouponTemplate.status == "active", CouponTemplate.issued < CouponTemplate.total_quota)
            .where((CouponTemplate.valid_until.is_(None)) | (CouponTemplate.valid_until > now))
            .order_by(CouponTemplate.id)
        )
    ).all()
    for template_id in ids:
        await issue_quietly(session, event.customer_id, template_id, source="subscribe")
