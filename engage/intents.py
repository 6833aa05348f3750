"""Built-in intents: the nearest open stores (with distance, today's hours and a link to order from the
nearest) and the customer's latest order status. Rules of type "intent" point here by name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.money import format_yuan
from engage import links, wording
from engage.conversation import Answer, MessageContext, custom_message, news_reply, text_reply
from engage.followers import last_location
from orders.queries import list_orders
from shop.services import get_store, load_schedules, nearest_stores

NEAREST_COUNT = 3
IntentHandler = Callable[[AsyncSession, MessageContext, dict[str, Any]], Awaitable[Answer]]
INTENT_HANDLERS: dict[str, IntentHandler] = {}


def intent(name: str) -> Callable[[IntentHandler], IntentHandler]:
    def register(fn: IntentHandler) -> IntentHandler:
        INTENT_HANDLERS[name] = fn
        return fn

    return register


async def run_intent(session: AsyncSession, name: str, ctx: MessageContext, options: dict[str, Any]) -> Answer:
    return await INTENT_HANDLERS[name](session, ctx, options)


def coupon_card(template_id: int, appid: str, title: str = "送您一张优惠券", description: str = "") -> dict[str, Any]:
    """A customer-service news card linking to the coupon claim page (the coupon issue's seam)."""
    reply = news_reply(title, description or "点击领取，下单立减", links.coupon_claim_url(template_id, appid))
    return custom_message(reply)


@intent("nearest_stores")
async def nearest_stores_answer(session: AsyncSession, ctx: MessageContext, options: dict[str, Any]) -> Answer:
    """The 3 nearest stores open now, as a news card whose link orders from the nearest."""
    point = ctx.location or await last_location(session, ctx.customer_id)
    follow_ups: tuple[dict[str, Any], ...] = ()
    if options.get("coupon_template_id"):
        follow_ups = (coupon_card(int(options["coupon_template_id"]), ctx.appid),)
    if point is None:
        return Answer(text_reply(wording.ASK_LOCATION), "intent", follow_ups=follow_ups)
    lat, lng = point
    now = clock.now()
    found = await nearest_stores(session, lat, lng, limit=NEAREST_COUNT, open_now=True, at=now)
    heading = "离您最近的门店"
    if not found:
        # Nothing open now: say so, and show the nearest with their hours.
        found = await nearest_stores(session, lat, lng, limit=NEAREST_COUNT, open_now=False, at=now)
        heading = "附近门店暂未营业"
        if not found:
            return Answer(text_reply("抱歉，附近暂时没有我们的门店。"), "intent", follow_ups=follow_ups)
    today = clock.now_shanghai().date()
    schedules = await load_schedules(session, [s.store_id for s in found], since=today)
    lines = []
    names = {}
    for i, nearby in enumerate(found, start=1):
        store = await get_store(session, nearby.store_id)
        names[nearby.store_id] = store.name
        hours = wording.hours_on(schedules[nearby.store_id], today)
        lines.append(
            f"{i}. {store.name} · {wording.distance(nearby.distance_m)} · {hours}\n   {store.address}".rstrip()
        )
    nearest = found[0]
    title = f"{heading}：{names[nearest.store_id]}（{wording.distance(nearest.distance_m)}）"
    description = "\n".join(lines) + "\n点击卡片，从最近的门店下单"
    reply = news_reply(title, description, links.store_order_url(nearest.store_id, ctx.appid))
    return Answer(reply, "intent", follow_ups=follow_ups)


@intent("latest_order")
async def latest_order_answer(session: AsyncSession, ctx: MessageContext, options: dict[str, Any]) -> Answer:
    page = await list_orders(session, customer_id=ctx.customer_id, page=1, page_size=1)
    if not page.items:
        reply = news_reply("您还没有订单", "点击卡片开始下单，急用药品最快1小时送达。", links.h5_url("/", ctx.appid))
        return Answer(reply, "intent")
    o = page.items[0]
    what = o.first_title + (f" 等{o.item_count}件" if o.item_count > 1 else "")
    description = f"{what}\n合计 {format_yuan(o.total_fen)}\n点击查看订单详情"
    title = f"订单 {o.number}：{wording.order_status(o.status)}"
    return Answer(news_reply(title, description, links.order_url(o.id, ctx.appid)), "intent")
