"""Customer H5 coupon pages (Chinese, mobile-first): the coupon centre with my coupons, and the claim page the
official account's coupon cards link to. Claiming itself is the JSON API (POST /api/coupons/claim/{id})."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.params import FromPath, FromQuery

from core.db import DbSession
from shop.coupons.queries import coupon_centre, my_coupons
from web.render import Req, render, sign_in_redirect, signed_in_customer

TABS = {"usable": "可使用", "used": "已使用", "expired": "已过期"}
STATE_LABELS = {
    "available": "可使用",
    "returned": "可使用",
    "locked": "下单占用中",
    "used": "已使用",
    "expired": "已过期",
}


@get("/coupons", include_in_schema=False)
async def coupons_page(request: Req, db_session: DbSession, tab: FromQuery[str] = "usable") -> Response[Any]:
    me = signed_in_customer(request)
    if me is None:
        return sign_in_redirect(request)
    tab = tab if tab in TABS else "usable"
    centre = await coupon_centre(db_session, me.id)
    mine = await my_coupons(db_session, me.id, state=tab, page=1, page_size=50)
    return render("coupons.html", centre=centre, mine=mine.items, tab=tab, tabs=TABS, labels=STATE_LABELS)


@get("/coupons/claim/{template_id:int}", include_in_schema=False)
async def claim_page(request: Req, db_session: DbSession, template_id: FromPath[int]) -> Response[Any]:
    me = signed_in_customer(request)
    if me is None:
        return sign_in_redirect(request)
    found = await coupon_centre(db_session, me.id, template_id)
    if not found:
        return render("coupon_claim.html", status_code=404, t=None)
    return render("coupon_claim.html", t=found[0])


ROUTES = [coupons_page, claim_page]
