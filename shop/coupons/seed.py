"""Demo coupon templates of the 邻里康 chain (idempotent by code): the keyword coupon ("优惠券" in the official
account), the new-follower coupon, a discount, free delivery, and the apology coupon delivery issues."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.db import unit_of_work
from shop.audit import SYSTEM
from shop.coupons.models import CouponTemplate
from shop.coupons.schemas import TemplateIn
from shop.coupons.templates import create_template

KEYWORD_CODE = "demo-keyword"  # engage's demo rule "优惠券" sends the claim card of this template

DEMO_TEMPLATES: list[dict[str, Any]] = [
    {
        "code": KEYWORD_CODE,
        "title": "满30减5",
        "description": "公众号回复“优惠券”领取，全部门店可用",
        "kind": "threshold",
        "threshold_fen": 3000,
        "off_fen": 500,
        "total_quota": 10_000,
        "valid_days": 7,
    },
    {
        "code": "demo-newcomer",
        "title": "新人专享8元",
        "description": "关注公众号即送，首单可用",
        "kind": "newcomer",
        "off_fen": 800,
        "total_quota": 100_000,
        "valid_days": 14,
        "claimable": False,
        "auto_issue": "subscribe",
    },
    {
        "code": "demo-percent",
        "title": "全场8.8折",
        "description": "最多减10元",
        "kind": "percent",
        "percent_off": 12,
        "cap_fen": 1000,
        "total_quota": 1_000,
        "valid_days": 3,
    },
    {
        "code": "demo-free-delivery",
        "title": "免配送费",
        "description": "满20元配送订单免配送费",
        "kind": "free_delivery",
        "threshold_fen": 2000,
        "total_quota": 5_000,
        "valid_days": 7,
    },
    {
        "code": "apology",
        "title": "急送致歉券10元",
        "description": "急送未能履约的补偿",
        "kind": "cash",
        "off_fen": 1000,
        "total_quota": 1_000_000,
        "per_customer_limit": 100,
        "valid_days": 30,
        "claimable": False,
    },
]


async def seed_coupons() -> int:
    """Create the demo templates that do not exist yet; returns how many were created."""
    created = 0
    async with unit_of_work() as session:
        have = set((await session.scalars(select(CouponTemplate.code).where(CouponTemplate.code.is_not(None)))).all())
        for body in DEMO_TEMPLATES:
            if body["code"] not in have:
                await create_template(session, TemplateIn(**body), SYSTEM)
                created += 1
    print(
        f"shop: {created} new demo coupon templates (reply 优惠券 in the account → 满30减5; follow → 新人专享8元)",
        flush=True,
    )
    return created
