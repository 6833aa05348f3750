"""`o2o seed-demo` for engage: keyword rules, template ids, the demo menu (published through the
sandbox by the worker) and a QR code per store. Idempotent: only what is missing is added."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import func, select

from core import jobs
from core.db import unit_of_work
from core.settings import get_settings
from engage.account_settings import get_templates, set_templates
from engage.accounts import resolve_account
from engage.models import KeywordRule, Menu
from engage.publish_menu import DEMO_MENU, publish_menu, save_menu
from engage.qr_codes import STORE_QR_JOB
from engage.rules import create_rule
from shop.coupons.models import CouponTemplate
from shop.coupons.seed import KEYWORD_CODE
from shop.stores.models import Store

log = structlog.get_logger(__name__)

# `make run` seeds before the app (and its sandbox) listens: give it a moment rather than a burst of retries.
APP_START = timedelta(seconds=5)


DEMO_RULES: list[dict[str, Any]] = [
    {  # the fast-food case of the seeds: "我想吃汉堡" → the nearest store
        "name": "想买/想吃 → 最近门店",
        "match_type": "regex",
        "pattern": "我(想|要)(买|吃|喝|用)",
        "priority": 50,
        "reply_type": "intent",
        "reply": {"intent": "nearest_stores"},
    },
    {
        "name": "营业时间 → 最近门店",
        "match_type": "contains",
        "pattern": "营业时间",
        "priority": 40,
        "reply_type": "intent",
        "reply": {"intent": "nearest_stores"},
    },
    {
        "name": "配送说明",
        "match_type": "regex",
        "pattern": "(送药|配送|外卖|急送|送货|多久到)",
        "priority": 30,
        "reply_type": "text",
        "reply": {
            "content": "下单时选择「急送」，附近门店接单后1小时内送达；普通配送当日送达，也可到店自提。"
            "点击菜单「点单」开始下单。"
        },
    },
    {
        "name": "处方药",
        "match_type": "contains",
        "pattern": "处方",
        "priority": 25,
        "reply_type": "text",
        "reply": {"content": "购买处方药请在下单时上传医生处方，药师审核通过后为您备货配送。"},
    },
    {
        "name": "退款",
        "match_type": "regex",
        "pattern": "(退款|退货|取消订单)",
        "priority": 20,
        "reply_type": "link",
        "reply": {
            "title": "申请退款",
            "description": "在「我的订单」中打开订单即可取消或申请退款。",
            "path": "/orders",
        },
    },
    {
        "name": "会员卡",
        "match_type": "contains",
        "pattern": "会员",
        "priority": 20,
        "reply_type": "link",
        "reply": {"title": "我的会员卡", "description": "积分、储值和会员价，一卡通用全部门店。", "path": "/member"},
    },
    {
        "name": "优惠券",
        "match_type": "regex",
        "pattern": "(优惠|领券|优惠券)",
        "priority": 20,
        "reply_type": "link",
        "reply": {"title": "我的优惠券", "description": "查看和领取优惠券，下单时自动抵扣。", "path": "/coupons"},
    },
    {
        "name": "问候",
        "match_type": "regex",
        "pattern": "^(你好|您好|hi|hello|在吗)",
        "priority": 10,
        "reply_type": "text",
        "reply": {"content": "您好，邻里康为您服务！发送“附近”查找最近的门店，发送“订单”查看订单状态。"},
    },
]

DEMO_TEMPLATES = {
    "order_paid": "TM_ORDER_PAID_0001",
    "order_accepted": "TM_ORDER_ACCEPTED_0001",
    "order_out_for_delivery": "TM_ORDER_SHIPPING_0001",
    "order_delivered": "TM_ORDER_DELIVERED_0001",
    "order_cancelled": "TM_ORDER_CANCELLED_0001",
    "order_refunded": "TM_ORDER_REFUNDED_0001",
    "coupon_expiring": "TM_COUPON_EXPIRING_0001",
    "push": "TM_PROMOTION_0001",
}


async def seed_demo() -> None:
    if not get_settings().is_dev:
        print("engage: O2O_ENV=prod — no demo rules, menu or QR codes")
        return
    async with unit_of_work() as session:
        account = await resolve_account(session, None)
        rules = 0
        if not await session.scalar(select(func.count()).where(KeywordRule.account_id == account.id)):
            keyword_coupon = await session.scalar(
                select(CouponTemplate.id).where(CouponTemplate.code == KEYWORD_CODE, CouponTemplate.status == "active")
            )
            for rule in DEMO_RULES:
                if rule["name"] == "优惠券" and keyword_coupon is not None:  # "优惠券" → the coupon's claim card
                    reply = {
                        "coupon_template_id": keyword_coupon,
                        "title": "送您一张满30减5优惠券",
                        "description": "点击领取，下单立减5元",
                    }
                    rule = {**rule, "reply_type": "coupon", "reply": reply}
                await create_rule(session, account.id, rule)
                rules += 1
        missing = {p: t for p, t in DEMO_TEMPLATES.items() if (await get_templates(session, account.id)).get(p) is None}
        if missing:
            await set_templates(session, account.id, missing)
        if await session.get(Menu, account.id) is None:
            await save_menu(session, account.id, DEMO_MENU, None)
        # Every run: the menu's links carry this run's base URL; the worker sends it once the app is up.
        await publish_menu(session, account.id, None, dedupe=False, delay=APP_START)
        stores = (await session.scalars(select(Store.id).where(Store.status == "active").order_by(Store.id))).all()
        for store_id in stores:
            await jobs.enqueue(
                session,
                STORE_QR_JOB,
                {"account_id": account.id, "store_id": store_id},
                dedupe_key=f"{STORE_QR_JOB}:{account.id}:{store_id}",
                delay=APP_START,
            )
    print(
        f"engage: {rules} new keyword rules, {len(missing)} template ids, menu queued for publishing, "
        f"QR codes for {len(stores)} stores queued; on the phone: {get_settings().base_url}/sandbox/phone"
    )
