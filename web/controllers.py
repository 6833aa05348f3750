"""Pages people use (server-rendered, Jinja2): the customer H5 storefront, cart/checkout and orders.

Pages call the domain services in the request's own transaction; the small scripts in web/static call the
domains' JSON APIs for the interactive steps (cart quantities, quote, place, pay, cancel).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote as urlquote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response, get
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from core.auth import Principal, current_principal
from core.db import DbSession
from core.errors import NotFound
from core.money import format_yuan
from core.settings import get_settings
from orders.errors import OrderNotFound
from orders.queries import find_order, list_orders, order_detail
from orders.services import get_cart
from orders.status import allowed_next
from shop.catalogue.services import category_tree
from shop.services import get_store, nearest_stores, store_catalogue, stores_of_user

TEMPLATES = Path(__file__).resolve().parent / "templates"

STATUS_LABELS = {
    "created": "待支付",
    "paid": "已支付",
    "reviewing": "审核中",
    "dispatching": "派单中",
    "accepted": "已接单",
    "preparing": "备货中",
    "ready": "待取货",
    "out_for_delivery": "配送中",
    "delivered": "已送达",
    "picked_up": "已取货",
    "completed": "已完成",
    "cancelled": "已取消",
}
ACTION_LABELS = {
    "accepted": "接单",
    "preparing": "开始备货",
    "ready": "备好待取",
    "picked_up": "确认取货",
    "out_for_delivery": "出发配送",
    "delivered": "确认送达",
    "completed": "完成",
    "cancelled": "取消订单",
}
KIND_LABELS = {"pickup": "到店自提", "delivery": "配送", "urgent": "急送（1小时达）"}

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
_env.filters["yuan"] = format_yuan
_env.filters["status"] = lambda s: STATUS_LABELS.get(s, s)
_env.filters["action"] = lambda s: ACTION_LABELS.get(s, s)
_env.filters["kind"] = lambda k: KIND_LABELS.get(k, k)
_env.filters["hm"] = lambda d: d.astimezone().strftime("%m-%d %H:%M") if isinstance(d, datetime) else ""
_env.filters["iso"] = lambda d: d.isoformat() if isinstance(d, datetime) else ""

Req = Request[Any, Any, Any]


def render(name: str, status_code: int = 200, **ctx: Any) -> Response[str]:
    s = get_settings()
    ctx.setdefault("jsbridge", f"{s.sandbox_base}/static/jsbridge.js" if s.is_dev else None)
    html = _env.get_template(name).render(**ctx)
    return Response(html, media_type="text/html; charset=utf-8", status_code=status_code)


def _customer(request: Req) -> Principal | None:
    p = current_principal(request)
    return p if p is not None and p.is_customer else None


def _sign_in(request: Req) -> Redirect:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"/auth/wechat?next={urlquote(path, safe='')}", status_code=302)


async def _pick_store(db: DbSession, store: int | None, lat: float | None, lng: float | None) -> Any | None:
    """The store asked for, else the nearest open one to (lat, lng), else the first active store."""
    from sqlalchemy import select

    from shop.stores.models import Store

    if store is not None:
        try:
            found = await get_store(db, store)
        except NotFound:
            found = None
        if found is not None and found.status == "active":
            return found
    if lat is not None and lng is not None:
        near = await nearest_stores(db, lat, lng, limit=1, open_now=True)
        if near:
            return await get_store(db, near[0].store_id)
    return await db.scalar(select(Store).where(Store.status == "active").order_by(Store.id).limit(1))


@get("/", include_in_schema=False)
async def home(
    request: Req,
    db_session: DbSession,
    store: FromQuery[int | None] = None,
    q: FromQuery[str | None] = None,
    category: FromQuery[int | None] = None,
    lat: FromQuery[float | None] = None,
    lng: FromQuery[float | None] = None,
) -> Response[Any]:
    me = _customer(request)
    if me is None:
        return _sign_in(request)
    shop = await _pick_store(db_session, store, lat, lng)
    if shop is None:
        return render("home.html", shop=None, products=[], categories=[], q=q, category=category, cart_count=0)
    q = (q or "").strip()[:50] or None
    page = await store_catalogue(db_session, shop.id, category_id=category, q=q, page=1, page_size=50)
    cats = await category_tree(db_session)
    cart = await get_cart(db_session, me.id, shop.id)
    qty = {x.sku_id: x.qty for x in cart.items}
    return render(
        "home.html",
        shop=shop,
        products=page.items,
        total=page.total,
        categories=cats,
        q=q,
        category=category,
        qty=qty,
        cart_count=sum(qty.values()),
    )


@get("/cart", include_in_schema=False)
async def cart_page(request: Req, db_session: DbSession, store: FromQuery[int | None] = None) -> Response[Any]:
    me = _customer(request)
    if me is None:
        return _sign_in(request)
    shop = await _pick_store(db_session, store, None, None)
    if shop is None:
        return render("cart.html", shop=None, cart=None)
    cart = await get_cart(db_session, me.id, shop.id)
    return render("cart.html", shop=shop, cart=cart)


@get("/orders", include_in_schema=False)
async def my_orders(request: Req, db_session: DbSession) -> Response[Any]:
    me = _customer(request)
    if me is None:
        return _sign_in(request)
    page = await list_orders(db_session, customer_id=me.id, page=1, page_size=50)
    return render("orders.html", orders=page.items)


@get("/orders/{public_id:str}", include_in_schema=False)
async def order_page(request: Req, db_session: DbSession, public_id: FromPath[str]) -> Response[Any]:
    me = _customer(request)
    if me is None:
        return _sign_in(request)
    try:
        order = await find_order(db_session, public_id)
    except OrderNotFound:
        order = None
    if order is None or order.customer_id != me.id:
        return render("not_found.html", status_code=404)
    detail = await order_detail(db_session, order, for_customer=True)
    store = await get_store(db_session, detail.fulfil_store_id or detail.store_id)
    return render("order.html", o=detail, store=store, pay=request.query_params.get("pay") == "1")


STAGES = {"new": "新订单", "active": "进行中", "cancel_requests": "取消申请", "done": "已完成"}
STAFF_ROLES = ("staff", "admin")


@get("/staff", include_in_schema=False)
async def staff_console(request: Req, db_session: DbSession, stage: FromQuery[str] = "new") -> Response[Any]:
    """The store staff console: sign-in, live urgent offers (claim/decline) and the order board by stage."""
    from core.users import get_user
    from shop.stores.models import Store

    p = current_principal(request)
    if p is None or not p.is_user or p.role not in STAFF_ROLES:
        return render("staff_login.html", wrong_role=p is not None, console="门店工作台", who="门店员工")
    user = await get_user(db_session, p.id)
    if stage not in STAGES:
        stage = "new"
    store_ids = await stores_of_user(db_session, p.id)
    stores = [await db_session.get(Store, i) for i in store_ids]
    page = await list_orders(db_session, store_ids=store_ids, stage=stage, page=1, page_size=50, oldest_first=True)
    actions = {
        o.id: [s for s in allowed_next(o.kind, o.status) if s not in ("paid", "reviewing", "dispatching")]
        for o in page.items
    }
    return render(
        "staff.html",
        user=user,
        stores=stores,
        stage=stage,
        stages=STAGES,
        orders=page.items,
        actions=actions,
    )


@get("/finance", include_in_schema=False)
async def finance_console(request: Req, db_session: DbSession) -> Response[Any]:
    """Finance: the last 30 days' summary with reconciliation status, the open mismatch queue, downloads."""
    from payments import exports, reports

    p = current_principal(request)
    if p is None or not p.is_user or p.role not in ("finance", "admin"):
        return render("staff_login.html", wrong_role=p is not None, console="财务对账台", who="财务")
    first, last = reports.default_range()
    days = await reports.daily_summary(db_session, first, last)
    totals = reports.totals(days)
    queue = await reports.mismatches(db_session, status="open", limit=200)
    return render(
        "finance.html",
        days=list(reversed(days)),
        totals=totals,
        mismatches=queue,
        kind_names=exports.KIND_NAMES,
        status_names=exports.STATUS_NAMES,
        reports=list(exports.HEADERS),
    )


@get("/admin", include_in_schema=False)
async def admin_console(request: Req) -> Response[Any]:
    """HQ admin landing page: where each console and the API live (the admin screens come next)."""
    p = current_principal(request)
    if p is None or not p.is_user or p.role != "admin":
        return render("staff_login.html", wrong_role=p is not None, console="总部管理后台", who="管理员")
    return render("admin.html")


ROUTES = [home, cart_page, my_orders, order_page, staff_console, finance_console, admin_console]
