"""Member pages (Chinese, mobile-first): the card with its rotating QR code, level, points, balance, statement, top-up.

The page is rendered from the member services; web/static/member.js refreshes the QR token before it
expires (POST /api/member/code), tops up through POST /api/member/topups and WeixinJSBridge, and pages
the statement (GET /api/member/statement).
"""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.params import FromPath

from core.db import DbSession
from core.errors import NotFound
from payments.start_payment import qr_png
from shop.members.member_code import PREFIX
from shop.members.models import MemberCard, MemberCodeToken
from shop.members.services import card_view, statement
from shop.members.topups import active_plans
from web.render import Req, render, sign_in_redirect, signed_in_customer

KIND_LABELS = {
    "spend": "储值消费",
    "release": "取消退回",
    "refund": "退款退回",
    "topup": "充值",
    "points_earn": "消费得积分",
    "points_reverse": "退款扣积分",
    "points_spend": "积分抵扣",
    "points_release": "取消退积分",
}


@get("/member", include_in_schema=False)
async def member_page(request: Req, db_session: DbSession) -> Response[Any]:
    me = signed_in_customer(request)
    if me is None:
        return sign_in_redirect(request)
    card = await card_view(db_session, me.id)
    entries = await statement(db_session, card.id, page=1, page_size=20, kind=None)
    plans = await active_plans(db_session)
    return render("member.html", card=card, entries=entries, plans=plans, kinds=KIND_LABELS)


@get("/member/qr/{token:str}", include_in_schema=False)
async def member_code_png(request: Req, db_session: DbSession, token: FromPath[str]) -> Response[Any]:
    """The QR picture of one of my tokens (someone else's token is not found)."""
    me = signed_in_customer(request)
    row = await db_session.get(MemberCodeToken, token[:64]) if me is not None else None
    card = await db_session.get(MemberCard, row.card_id) if row is not None else None
    if me is None or card is None or card.customer_id != me.id:
        raise NotFound("会员码不存在")
    return Response(qr_png(PREFIX + token), media_type="image/png", headers={"Cache-Control": "no-store"})


ROUTES = [member_page, member_code_png]
