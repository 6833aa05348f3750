"""HQ admin (/admin): stores and hours, the agent inbox with reply, catalogue and prices, keyword rules, the
custom menu with publish, QR codes, segment pushes with their log; coupon and member screens link to their
APIs once those domains are present. Pages read through the domain services; changes go through the admin
JSON APIs from staff.js (so validation and audit stay in one place)."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

from litestar import Response, get
from litestar.params import FromQuery
from sqlalchemy import func, or_, select

from core.auth import current_principal
from core.db import DbSession
from engage import inbox, rules
from engage.accounts import resolve_account
from engage.models import Menu
from engage.qr_codes import list_qr_codes
from engage.send_push import push_log
from shop.catalogue.models import Product, Sku, StoreListing
from shop.stores.models import Store
from shop.stores.schemas import weekly_out
from shop.stores.services import load_schedules
from web.render import Req, render

PAGE_SIZE = 20
TABS = {
    "stores": "门店与营业时间",
    "inbox": "客服消息",
    "catalogue": "商品与价格",
    "rules": "关键词回复",
    "menu": "自定义菜单",
    "qrcodes": "二维码",
    "pushes": "定向推送",
    "coupons": "优惠券",
    "members": "会员",
}
WEEKDAYS = "一二三四五六日"
# Read-only lists of the coupon and member domains' admin APIs (shown when those domains are installed; they
# are changed through the same APIs, see /schema).
API_LISTS = {
    "coupons": [
        ("优惠券模板", "/api/admin/coupons/templates"),
        ("进行中的活动", "/api/admin/coupons/campaigns"),
        ("使用统计", "/api/admin/coupons/report"),
    ],
    "members": [("会员等级", "/api/admin/members/levels"), ("储值充值方案", "/api/admin/members/topup-plans")],
}
MATCH_TYPES = {"contains": "包含", "exact": "完全匹配", "regex": "正则"}


def _escape_like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _pages(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))


async def _stores(db: Any, q: str, page: int) -> dict[str, Any]:
    query = select(Store)
    if q:
        query = query.where(
            or_(Store.name.ilike(_escape_like(q), escape="\\"), Store.code.ilike(_escape_like(q), escape="\\"))
        )
    total = await db.scalar(select(func.count()).select_from(query.subquery())) or 0
    stores = (await db.scalars(query.order_by(Store.id).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE))).all()
    schedules = await load_schedules(db, [s.id for s in stores])
    hours, first = {}, {}
    for s in stores:
        by_day: dict[int, list[str]] = {}
        opening: dict[int, tuple[str, str]] = {}
        for h in weekly_out(schedules[s.id]):
            by_day.setdefault(h.weekday, []).append(f"{h.opens}–{h.closes}")
            opening.setdefault(h.weekday, (h.opens, h.closes))
        hours[s.id] = [(WEEKDAYS[d], "、".join(by_day.get(d, [])) or "休息") for d in range(7)]
        first[s.id] = [(d, WEEKDAYS[d], *opening.get(d, ("", ""))) for d in range(7)]
    return {"stores": stores, "hours": hours, "first": first, "total": total, "pages": _pages(total)}


async def _catalogue(db: Any, q: str, page: int, store_id: int | None) -> dict[str, Any]:
    query = select(Product)
    if q:
        query = query.where(Product.title.ilike(_escape_like(q), escape="\\"))
    total = await db.scalar(select(func.count()).select_from(query.subquery())) or 0
    products = (await db.scalars(query.order_by(Product.id).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE))).all()
    skus = (await db.scalars(select(Sku).where(Sku.product_id.in_([p.id for p in products])).order_by(Sku.id))).all()
    store = await db.get(Store, store_id) if store_id is not None else None
    listings: dict[int, StoreListing] = {}
    if store is not None and skus:
        rows = await db.scalars(
            select(StoreListing).where(StoreListing.store_id == store.id, StoreListing.sku_id.in_([s.id for s in skus]))
        )
        listings = {row.sku_id: row for row in rows}
    return {
        "products": [(p, [s for s in skus if s.product_id == p.id]) for p in products],
        "total": total,
        "pages": _pages(total),
        "store": store,
        "listings": listings,
        "store_list": (await db.execute(select(Store.id, Store.name).order_by(Store.id).limit(500))).all(),
    }


@get("/admin", include_in_schema=False)
async def admin_console(
    request: Req,
    db_session: DbSession,
    tab: FromQuery[str] = "stores",
    q: FromQuery[str] = "",
    page: FromQuery[int] = 1,
    status: FromQuery[str] = "open",
    store: FromQuery[int | None] = None,
) -> Response[Any]:
    p = current_principal(request)
    if p is None or not p.is_user or p.role != "admin":
        return render("staff_login.html", wrong_role=p is not None, console="总部管理后台", who="管理员")
    tab = tab if tab in TABS else "stores"
    q = q.strip()[:100]
    page = max(1, min(page, 10_000))
    ctx: dict[str, Any] = {"tab": tab, "tabs": TABS, "q": q, "page": page, "status": status}
    account = await resolve_account(db_session, None)
    if tab == "stores":
        ctx.update(await _stores(db_session, q, page))
    elif tab == "catalogue":
        ctx.update(await _catalogue(db_session, q, page, store))
    elif tab == "inbox":
        status = status if status in ("open", "handled", "all") else "open"
        ctx["status"] = status
        ctx["messages"] = await inbox.list_inbox(db_session, account.id, status=status, limit=100)
    elif tab == "rules":
        ctx["rules"] = await rules.list_rules(db_session, account.id)
        ctx["match_types"] = MATCH_TYPES
    elif tab == "menu":
        menu = await db_session.get(Menu, account.id)
        ctx["menu"] = menu
        ctx["menu_json"] = json.dumps(menu.menu if menu else {"button": []}, ensure_ascii=False, indent=2)
    elif tab == "qrcodes":
        ctx["codes"] = await list_qr_codes(db_session, account.id)
        ctx["store_list"] = (await db_session.execute(select(Store.id, Store.name).order_by(Store.id).limit(500))).all()
    elif tab == "pushes":
        ctx["log"] = await push_log(db_session, account.id, 50)
    elif tab in ("coupons", "members"):
        module = "shop.coupons" if tab == "coupons" else "shop.members"
        ctx["enabled"] = importlib.util.find_spec(module) is not None
        ctx["sources"] = API_LISTS[tab]
    return render("admin.html", **ctx)


ROUTES = [admin_console]
